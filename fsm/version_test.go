package fsm_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// replayQuotaLog applies testdata/quota-v0-log.json (a bootstrap, a key
// with every kind of limit, and quota syncs from four nodes: leases taken,
// spent, returned, run out, reported late and recounted, around a
// window's edge) as raft hands entries to a node, and returns the state
// after each entry in the backup snapshot form. With raise, the leader's
// log-version command comes right after the bootstrap.
func replayQuotaLog(t *testing.T, raise bool) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/quota-v0-log.json")
	if err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	if raise {
		c := fsm.Command{Type: fsm.TypeLogVersion, ID: "raise", Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
			Body: fsm.LogVersionBody{Version: fsm.LogVersion}}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries[:1], append([][]byte{b}, entries[1:]...)...)
	}
	f := fsm.New()
	var out bytes.Buffer
	for i, data := range entries {
		if err, ok := f.Apply(&raft.Log{Index: uint64(i + 1), Data: data}).(error); ok {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		if i == 1 && raise {
			continue // not in the older build's log
		}
		if err := fsm.WriteSnapshot(&out, f.View()); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// TestLogVersionZeroAppliesAsTheOlderBuild: until the leader raises the
// log version, this build applies quota syncs exactly as the build before
// lease ids did (62dffd6^, which wrote testdata/quota-v0.snaps from the
// same log), so a rolling upgrade never leaves old and new nodes with
// different states. The new fields the log carries (lease, recount, mark)
// are ignored, as the older build ignores them.
func TestLogVersionZeroAppliesAsTheOlderBuild(t *testing.T) {
	want, err := os.ReadFile("testdata/quota-v0.snaps")
	if err != nil {
		t.Fatal(err)
	}
	got := replayQuotaLog(t, false)
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("states differ from the older build's from byte %d:\n got: %q\nwant: %q", i,
			got[max(0, i-80):min(len(got), i+160)], want[max(0, i-80):min(len(want), i+160)])
	}
	// Raised, the same log applies under the new rules: write-offs, lease
	// ids, exact window edges.
	if raised := replayQuotaLog(t, true); bytes.Equal(raised, want) {
		t.Fatal("raising the log version changed nothing")
	} else if !bytes.Contains(raised, []byte(`"write_offs"`)) || !bytes.Contains(raised, []byte(`"log_version":1`)) {
		t.Fatal("the raised replay kept no write-off or no log version")
	}
}

// TestLogVersionOnlyRises: a lower or equal version changes nothing, and
// a bootstrap after a raise keeps it.
func TestLogVersionOnlyRises(t *testing.T) {
	f := fsm.New()
	apply := func(typ fsm.MessageType, body any) {
		t.Helper()
		c := fsm.Command{Type: typ, Time: time.Now(), Body: body}
		if _, err := f.ApplyCommand(f.AppliedIndex()+1, c); err != nil {
			t.Fatal(err)
		}
	}
	apply(fsm.TypeLogVersion, fsm.LogVersionBody{Version: 1})
	apply(fsm.TypeBootstrap, fsm.BootstrapBody{Meta: fsm.Meta{ClusterID: "c"}, Org: fsm.Org{ID: "org1", Name: "o"},
		Admin: fsm.User{ID: "u1", Email: "admin@example.com", PasswordHash: fsmtest.AdminHash, Role: fsm.RoleSuperAdmin}})
	apply(fsm.TypeLogVersion, fsm.LogVersionBody{Version: 0})
	if v := f.View().Meta.LogVersion; v != 1 {
		t.Fatalf("log version %d, want 1", v)
	}
	if _, err := f.ApplyCommand(f.AppliedIndex()+1, fsm.Command{Type: fsm.TypeLogVersion, Time: time.Now(),
		Body: fsm.LogVersionBody{Version: -1}}); err == nil {
		t.Fatal("a negative version was accepted")
	}
}
