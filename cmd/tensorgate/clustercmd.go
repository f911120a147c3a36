package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

const clusterUsage = `Usage:
  tensorgate cluster members                  list members: id, addresses, role, alive, applied index
  tensorgate cluster remove NODE_ID           remove a member from raft and gossip for good
  tensorgate cluster transfer-leader [NODE_ID] hand leadership over (before restarting the leader)

Flags: --addr URL (default http://127.0.0.1:3000), --token TOKEN
`

type memberJSON struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	GossipAddr   string `json:"gossip_addr"`
	HTTPAddr     string `json:"http_addr"`
	Role         string `json:"role"`
	Alive        bool   `json:"alive"`
	AppliedIndex uint64 `json:"applied_index"`
}

func clusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, clusterUsage)
		return errUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr, token := opFlags(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "transfer-leader: how long to keep trying until leadership has moved")
	var positional []string
	rest := args[1:]
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		positional, rest = append(positional, rest[0]), rest[1:]
	}
	if err := parseFlags(fs, rest, os.LookupEnv); err != nil {
		return err
	}
	positional = append(positional, fs.Args()...)
	c, err := newOpClient(ctx, *addr, *token)
	if err != nil {
		return err
	}
	switch sub {
	case "members":
		var out struct {
			Leader  string       `json:"leader"`
			Members []memberJSON `json:"members"`
		}
		if err := c.call(ctx, "GET", "/api/admin/cluster", "", nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tALIVE\tAPPLIED\tRAFT\tGOSSIP\tHTTP")
		for _, m := range out.Members {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\t%s\n", m.ID, m.Role, m.Alive, m.AppliedIndex, m.RaftAddr, m.GossipAddr, m.HTTPAddr)
		}
		return tw.Flush()
	case "remove":
		if len(positional) != 1 {
			fmt.Fprint(stderr, clusterUsage)
			return errUsage
		}
		if err := c.call(ctx, "DELETE", "/api/admin/cluster/members/"+url.PathEscape(positional[0]), "", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", positional[0])
		return nil
	case "transfer-leader":
		req := map[string]string{"timeout": timeout.String()}
		if len(positional) == 1 {
			req["node_id"] = positional[0]
		}
		body, _ := json.Marshal(req)
		var out struct {
			Leader string `json:"leader"`
		}
		if err := c.call(ctx, "POST", "/api/admin/cluster/transfer-leader", "application/json", bytes.NewReader(body), &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "leadership transferred; leader is now %s\n", out.Leader)
		return nil
	}
	fmt.Fprint(stderr, clusterUsage)
	return errUsage
}
