package fsm

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hashicorp/raft"
)

func TestDuplicateCommandAppliesOnce(t *testing.T) {
	h := newHarness(t)
	h.mustApply(TypeBootstrap, bootstrapBody())
	cmd := Command{Type: TypeOrgUpsert, ID: "retry-me", Time: t0, Body: OrgUpsertBody{Org: Org{ID: "o2", Name: "second"}, Create: true}}
	data, _ := cmd.Encode()
	first := h.f.Apply(&raft.Log{Index: 10, Type: raft.LogCommand, Data: data})
	org, ok := first.(*Org)
	if !ok {
		t.Fatalf("first apply answered %v", first)
	}
	// The same id again, as a proposer retrying after losing leadership:
	// no "already exists" error, the original result, no new version.
	again := h.f.Apply(&raft.Log{Index: 11, Type: raft.LogCommand, Data: data})
	org2, ok := again.(*Org)
	if !ok || org2.Version != org.Version || org2.ID != "o2" {
		t.Fatalf("retry answered %v", again)
	}
	if h.f.View().Index != 10 {
		t.Fatalf("a duplicate changed the state (index %d)", h.f.View().Index)
	}

	// The window survives a raft snapshot and restore.
	snap, _ := h.f.Snapshot()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	f2 := New()
	if err := f2.Restore(sink.reader()); err != nil {
		t.Fatal(err)
	}
	res := f2.Apply(&raft.Log{Index: 12, Type: raft.LogCommand, Data: data})
	if o, ok := res.(*Org); !ok || o.Version != org.Version {
		t.Fatalf("after restore the retry answered %v", res)
	}
	// A rejected command is not remembered: it may succeed later.
	bad := Command{Type: TypeOrgDelete, ID: "del", Body: DeleteBody{ID: "nope"}}
	bd, _ := bad.Encode()
	if _, ok := h.f.Apply(&raft.Log{Index: 13, Type: raft.LogCommand, Data: bd}).(error); !ok {
		t.Fatal("deleting a missing org succeeded")
	}
	if _, ok := h.f.dedup.lookup("del"); ok {
		t.Fatal("a rejected command was recorded as applied")
	}
}

func TestDedupeWindowIsBounded(t *testing.T) {
	d := newDedupe()
	for i := 0; i < dedupeWindow+10; i++ {
		d.add(&applied{ID: string(rune('a'+i%26)) + string(rune(i)), Index: uint64(i)})
	}
	if len(d.order) != dedupeWindow || len(d.byID) != dedupeWindow {
		t.Fatalf("window holds %d/%d entries", len(d.order), len(d.byID))
	}
}

func TestResultRoundTrip(t *testing.T) {
	grants := QuotaGrants{{Key: "k", Limit: 3, Granted: 2}}
	for typ, v := range map[MessageType]any{
		TypeOrgUpsert:   &Org{ID: "o", Name: "n"},
		TypeBootstrap:   &BootstrapResult{Applied: true},
		TypeKeyDelete:   &Key{ID: "k"},
		TypeQuotaSync:   &grants,
		TypeRouteDelete: &NoResult{},
	} {
		b, err := EncodeResult(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeResult(typ, b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v, got); diff != "" {
			t.Fatalf("type %d: decoded differently (-want +got):\n%s", typ, diff)
		}
	}
}

// TestStoredResultsStillDecode: results the dedupe table holds in
// snapshots (and leaders send to followers) from builds before results
// had registered types decode into the types Apply answers now.
func TestStoredResultsStillDecode(t *testing.T) {
	for _, tc := range []struct {
		typ  MessageType
		enc  string
		want any
		// same: this build stores the same bytes for it.
		same bool
	}{
		{TypeBootstrap, `{"Applied":true}`, &BootstrapResult{Applied: true}, true},
		{TypeQuotaSync, `[{"key":"k","limit":3}]`, &QuotaGrants{{Key: "k", Limit: 3}}, false},
		{TypeQuotaSync, `[]`, &QuotaGrants{}, true},
		{TypeOrgDelete, ``, &NoResult{}, true},
		{TypeLogVersion, ``, &NoResult{}, true},
		{TypeUsageAdd, `{"counted":true,"mark":7}`, &UsageAddResult{Counted: true, Mark: 7}, true},
	} {
		got, err := DecodeResult(tc.typ, []byte(tc.enc))
		if err != nil {
			t.Fatalf("type %d: %v", tc.typ, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("type %d: decoded differently (-want +got):\n%s", tc.typ, diff)
		}
		if re, _ := EncodeResult(got); tc.same && string(re) != tc.enc {
			t.Errorf("type %d: re-encoded as %s, want %s", tc.typ, re, tc.enc)
		}
	}
}
