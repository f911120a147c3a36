package gateway

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/outbox"
)

// TestSpendRecordSumsLeases: the outbox read back as a spend record sums
// what the events since a mark spent, lease by lease, and holds them all.
func TestSpendRecordSumsLeases(t *testing.T) {
	ob, err := outbox.Open(t.TempDir(), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	add := func(spends ...event.Spend) {
		t.Helper()
		data, err := json.Marshal(event.Event{RequestID: "r", Spends: spends})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ob.Append(context.Background(), data); err != nil {
			t.Fatal(err)
		}
	}
	const budget, tpm = "org:o1:budget", "key:k1:tpm"
	rec := SpendRecord{Log: ob}
	add(event.Spend{Key: budget, Lease: 4, Units: 7}) // before the lease
	mark := rec.Mark()
	if mark.ID != ob.ID() || mark.Seq != 2 {
		t.Fatalf("mark %+v", mark)
	}
	add(event.Spend{Key: budget, Lease: 5, Units: 100})
	add()
	add(event.Spend{Key: budget, Lease: 5, Units: 50}, event.Spend{Key: tpm, Lease: 6, Units: 10})
	got, whole, err := rec.Spent(mark.Seq)
	if err != nil {
		t.Fatal(err)
	}
	want := map[quota.LeaseRef]int64{{Key: budget, Lease: 5}: 150, {Key: tpm, Lease: 6}: 10}
	if diff := cmp.Diff(want, got); diff != "" || whole != mark.Seq {
		t.Fatalf("spent (-want +got):\n%s whole %d, want %d", diff, whole, mark.Seq)
	}
	// An event of an older version, without spends, spends nothing.
	if got, whole, _ := rec.Spent(1); got[quota.LeaseRef{Key: budget, Lease: 4}] != 7 || whole != 1 {
		t.Fatalf("from 1: %v, whole %d", got, whole)
	}
}
