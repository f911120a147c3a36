package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthCmd exits 0 when the local node answers /api/health with 200: a
// container healthcheck that needs no shell or curl in the image.
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:3000", "the node's HTTP address")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*addr, "/")+"/api/health", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
	return nil
}

// stepDownCmd asks the local node to hand leadership away if it leads,
// before it is stopped (a Kubernetes preStop hook). The node takes it only
// from loopback, so no credential is needed.
func stepDownCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("step-down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:3000", "the node's HTTP address (loopback)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*addr, "/")+"/api/cluster/step-down", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("step-down: %w", err)
	}
	defer res.Body.Close()
	var out struct {
		Transferred bool   `json:"transferred"`
		Leader      string `json:"leader"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&out) != nil {
		return fmt.Errorf("step-down: %s", res.Status)
	}
	if out.Transferred {
		fmt.Fprintf(stdout, "leadership handed to %s\n", out.Leader)
	} else {
		fmt.Fprintln(stdout, "not the leader; nothing to hand over")
	}
	return nil
}

// secretsCmd is "secrets reseal": seal every stored secret again under
// the current BETTER_AUTH_SECRET, the middle step of a rotation.
func secretsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reseal" {
		fmt.Fprintln(stderr, "Usage: tensorgate secrets reseal [--addr URL] [--token TOKEN]")
		return errUsage
	}
	fs := flag.NewFlagSet("secrets reseal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr, token := opFlags(fs)
	if err := parseFlags(fs, args[1:], os.LookupEnv); err != nil {
		return err
	}
	c, err := newOpClient(ctx, *addr, *token)
	if err != nil {
		return err
	}
	var out struct {
		Providers int      `json:"providers"`
		Policies  int      `json:"policies"`
		Failed    []string `json:"failed"`
	}
	if err := c.call(ctx, "POST", "/api/admin/secrets/reseal", "", nil, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "resealed %d provider keys and %d org policies under the current secret\n", out.Providers, out.Policies)
	if len(out.Failed) > 0 {
		return fmt.Errorf("these secrets open under neither secret and must be entered again: %s", strings.Join(out.Failed, "; "))
	}
	return nil
}
