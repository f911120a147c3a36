package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// errUsage means the flag package already printed the problem.
var errUsage = errors.New("usage")

// envName is the environment variable that sets a flag:
// --http-addr is TENSORGATE_HTTP_ADDR.
func envName(flagName string) string {
	return "TENSORGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its TENSORGATE_* variable in env, so flags win over the
// environment.
func parseFlags(fs *flag.FlagSet, args []string, env lookupEnv) error {
	if err := fs.Parse(args); err != nil {
		return errUsage // the flag package printed why
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v, ok := env(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// minDiskReserve is the smallest --disk-reserve: a new outbox memtable
// file (2 x 16 MiB, created during a write) and the flush of the last one
// (16 MiB) must fit in it; see storage/outbox/space.go.
const minDiskReserve = 48 << 20

// byteSize is a flag holding a byte count written as bytes or with a
// unit (256MiB, 1GiB).
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	return diskguard.FormatSize(*b.n)
}

func (b byteSize) Set(v string) error {
	n, err := diskguard.ParseSize(v)
	if err != nil {
		return err
	}
	*b.n = n
	return nil
}
