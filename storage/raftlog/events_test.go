package raftlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func TestBackgroundErrorsAreLoggedOncePerRun(t *testing.T) {
	var logs bytes.Buffer
	l := (&backgroundErrors{log: slog.New(slog.NewTextHandler(&logs, nil))}).listener()
	enospc := errors.New("write 000005.sst: no space left on device")
	for range 2 {
		for range 9000 {
			l.BackgroundError(enospc)
			l.FlushEnd(pebble.FlushInfo{Err: enospc})
		}
		l.FlushEnd(pebble.FlushInfo{})
		l.CompactionEnd(pebble.CompactionInfo{})
	}
	if n := strings.Count(logs.String(), "background work is failing"); n != 2 {
		t.Errorf("logged the failure %d times, want once per run (2):\n%.2000s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "succeeds again"); n != 2 {
		t.Errorf("logged the recovery %d times, want 2:\n%.2000s", n, logs.String())
	}
}
