// Command tensorgate is the Tensorgate gateway node and its operator CLI.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `tensorgate: an enterprise AI gateway

Usage:
  tensorgate serve [flags]              run a gateway node
  tensorgate cluster members            list the cluster's members
  tensorgate cluster remove NODE_ID     remove a member for good
  tensorgate cluster transfer-leader [NODE_ID]
                                        hand leadership over, for rolling restarts
  tensorgate snapshot save FILE         back up the replicated state
  tensorgate snapshot restore FILE      restore a backup into the cluster
  tensorgate migrate                    apply the Postgres migrations to DATABASE_URL
  tensorgate secrets reseal             seal every stored secret again under the current
                                        BETTER_AUTH_SECRET (rotation, see the README)
  tensorgate health [--addr URL]        exit 0 if the node is healthy (container healthchecks)
  tensorgate step-down [--addr URL]     hand leadership away if this node leads (preStop hooks;
                                        taken from loopback only)
  tensorgate version                    print the version

Run "tensorgate serve -h" for the node's flags. Operator commands talk to a
node's HTTP API: --addr (default http://127.0.0.1:3000) and a credential from
--token/TENSORGATE_TOKEN or ONPREM_ADMIN_EMAIL + ONPREM_ADMIN_PASSWORD.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "cluster":
		err = clusterCmd(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(ctx, stdout, stderr)
	case "secrets":
		err = secretsCmd(ctx, args[1:], stdout, stderr)
	case "health":
		err = healthCmd(ctx, args[1:], stdout, stderr)
	case "step-down":
		err = stepDownCmd(ctx, args[1:], stdout, stderr)
	case "snapshot":
		err = snapshotCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "tensorgate", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tensorgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintln(stderr, "tensorgate:", err)
		return 1
	}
	return 0
}
