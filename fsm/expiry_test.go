package fsm

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
)

// TestLeasesExpireAsIfLookedForEverySync: a sync looks for run-out leases
// only from the moment the earliest may have run out. Over a random run
// of syncs from three nodes (leases renewed, returned, left to run out,
// TTLs that differ), it answers and ends exactly like a state that looks
// at every sync, and its bound is never later than the earliest lease.
func TestLeasesExpireAsIfLookedForEverySync(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	lazy, eager := New(), New()
	var index uint64
	now := t0
	apply := func(typ MessageType, body any) (a, b any) {
		t.Helper()
		index++
		data, err := Command{Type: typ, ID: fmt.Sprintf("cmd-%d", index), Time: now, Body: body}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		// The eager state always thinks a lease may have run out.
		eager.state.Load().quotaExpiry = time.Unix(1, 0)
		a = lazy.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		b = eager.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		return a, b
	}
	apply(TypeBootstrap, bootstrapBody())
	var keys []string
	for i := range 4 {
		k := testKey(fmt.Sprintf("k%d", i), fmt.Sprintf("%064x", i+1))
		k.Limits = Limits{RPM: 40, Concurrency: 3, TPM: 5000}
		apply(TypeKeyUpsert, KeyUpsertBody{Key: k, Create: true})
		for _, kind := range []string{KindRPM, KindConcurrency, KindTPM} {
			keys = append(keys, QuotaKey(ScopeKey, k.ID, kind))
		}
	}
	expired := 0
	for step := range 3000 {
		now = now.Add(time.Duration(rng.IntN(2500)) * time.Millisecond)
		body := QuotaSyncBody{Node: fmt.Sprintf("node%d", rng.IntN(3)), TTL: time.Duration(1+rng.IntN(8)) * time.Second}
		for range 1 + rng.IntN(3) {
			body.Items = append(body.Items, QuotaSyncItem{Key: keys[rng.IntN(len(keys))],
				Spent: int64(rng.IntN(4)), Return: int64(rng.IntN(2)), Want: int64(rng.IntN(12))})
		}
		before := lazy.View()
		a, b := apply(TypeQuotaSync, body)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("step %d: grants %+v, looking every time %+v", step, a, b)
		}
		s := lazy.View()
		var earliest time.Time
		for _, q := range s.quotas.All() {
			for _, l := range q.Leases {
				if earliest.IsZero() || l.Expires.Before(earliest) {
					earliest = l.Expires
				}
			}
		}
		if !earliest.IsZero() && (s.quotaExpiry.IsZero() || s.quotaExpiry.After(earliest)) {
			t.Fatalf("step %d: bound %v after the earliest lease %v", step, s.quotaExpiry, earliest)
		}
		if !before.quotaExpiry.IsZero() && !before.quotaExpiry.After(now) {
			expired++
		}
	}
	if diff := cmp.Diff(eager.View(), lazy.View(), stateCmp); diff != "" {
		t.Fatalf("states differ (-looking every time +lazy):\n%s", diff)
	}
	if expired < 50 {
		t.Fatalf("only %d syncs looked for run-out leases: the run does not test them", expired)
	}
	t.Logf("%d of 3000 syncs looked for run-out leases", expired)
}
