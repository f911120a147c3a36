package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// opClient talks to a node's admin API for operator subcommands.
type opClient struct {
	addr  string
	token string
	hc    *http.Client
}

func opFlags(fs *flag.FlagSet) (addr, token *string) {
	addr = fs.String("addr", "http://127.0.0.1:3000", "a node's HTTP address")
	token = fs.String("token", "", "admin session token (or TENSORGATE_TOKEN; else ONPREM_ADMIN_EMAIL and ONPREM_ADMIN_PASSWORD)")
	return addr, token
}

// newOpClient authenticates with the token, or signs in with the admin
// email and password from the environment.
func newOpClient(ctx context.Context, addr, token string) (*opClient, error) {
	c := &opClient{addr: strings.TrimRight(addr, "/"), token: token, hc: &http.Client{Timeout: 5 * time.Minute}}
	if c.token != "" {
		return c, nil
	}
	email, pw := os.Getenv("ONPREM_ADMIN_EMAIL"), os.Getenv("ONPREM_ADMIN_PASSWORD")
	if email == "" || pw == "" {
		return nil, errors.New("no credential: pass --token or set TENSORGATE_TOKEN, or set ONPREM_ADMIN_EMAIL and ONPREM_ADMIN_PASSWORD")
	}
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	var out struct{ Token string }
	if err := c.call(ctx, "POST", "/api/auth/login", "application/json", bytes.NewReader(body), &out); err != nil {
		return nil, fmt.Errorf("sign in as %s: %w", email, err)
	}
	c.token = out.Token
	return c, nil
}

// call performs a request; a non-2xx answer becomes an error carrying the
// API's message. out may be nil, an io.Writer or a JSON target.
func (c *opClient) call(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		var e struct {
			Error struct{ Message string }
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %s (HTTP %d)", method, path, e.Error.Message, res.StatusCode)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, res.StatusCode)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case io.Writer:
		_, err = io.Copy(o, res.Body)
		return err
	default:
		return json.NewDecoder(res.Body).Decode(out)
	}
}

func snapshotCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || (args[0] != "save" && args[0] != "restore") {
		fmt.Fprintln(stderr, "Usage: tensorgate snapshot save|restore FILE [--addr URL] [--token TOKEN]")
		return errUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("snapshot "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr, token := opFlags(fs)
	// Accept the file before or after the flags.
	var file string
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, os.LookupEnv); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" {
		fmt.Fprintf(stderr, "Usage: tensorgate snapshot %s FILE\n", sub)
		return errUsage
	}
	c, err := newOpClient(ctx, *addr, *token)
	if err != nil {
		return err
	}
	if sub == "save" {
		return snapshotSave(ctx, c, file, stdout)
	}
	return snapshotRestore(ctx, c, file, stdout)
}

// snapshotSave writes the backup next to FILE and renames it into place, so
// FILE is either the old file or a complete new backup.
func snapshotSave(ctx context.Context, c *opClient, file string, stdout io.Writer) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tensorgate-snapshot-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	if err := c.call(ctx, "GET", "/api/admin/snapshot", "", nil, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("save %s: %w", file, err)
	}
	st, _ := os.Stat(file)
	fmt.Fprintf(stdout, "saved snapshot to %s (%d bytes)\n", file, st.Size())
	return nil
}

func snapshotRestore(ctx context.Context, c *opClient, file string, stdout io.Writer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	var out map[string]any
	if err := c.call(ctx, "POST", "/api/admin/snapshot/restore", "application/octet-stream", bytes.NewReader(b), &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s: %v orgs, %v users, %v keys, %v providers\n", file, out["orgs"], out["users"], out["keys"], out["providers"])
	return nil
}
