package fsm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// BenchmarkApplyAtScale measures one command's apply in a state that
// already holds n keys, each with an RPM limit some node leases: the cost
// of a write must not grow with what the state holds.
func BenchmarkApplyAtScale(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		bl := fsmtest.New(b)
		for i := range n {
			bl.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: fmt.Sprintf("k%d", i), OrgID: "org1",
				Name: "k", Prefix: "gk_x", Hash: fmt.Sprintf("%064x", i+1), Scopes: fsm.Capabilities, Limits: fsm.Limits{RPM: 100}}})
		}
		items := make([]fsm.QuotaSyncItem, 0, 1000)
		for i := range n {
			items = append(items, fsm.QuotaSyncItem{Key: fsm.QuotaKey(fsm.ScopeKey, fmt.Sprintf("k%d", i), fsm.KindRPM), Want: 1})
			if len(items) == cap(items) || i == n-1 {
				bl.Apply(fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: "a", TTL: 10 * time.Minute, Items: items})
				items = items[:0]
			}
		}
		// Every key used in the current hour: the hour's counters hold a
		// row per key, and each key has a last use.
		now := bl.Now()
		hour := now.Unix() - now.Unix()%3600
		for lo := 0; lo < n; lo += 1000 {
			body := fsm.UsageAddBody{Stream: "setup", From: uint64(lo + 1), To: uint64(lo + 1000), LastUsed: map[string]int64{}}
			for i := lo; i < min(n, lo+1000); i++ {
				id := fmt.Sprintf("k%d", i)
				body.Rows = append(body.Rows, fsm.UsageRow{Start: hour, Span: 3600, UsageDims: fsm.UsageDims{Org: "org1", Key: id, Model: "m"},
					UsageCount: fsm.UsageCount{Requests: 1}})
				body.LastUsed[id] = now.Unix()
			}
			bl.Apply(fsm.TypeUsageAdd, body)
		}
		b.Run(fmt.Sprintf("keys=%d/key-create", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				bl.Apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Create: true, Key: fsm.Key{ID: fmt.Sprintf("new%d", i), OrgID: "org1",
					Name: "k", Prefix: "gk_x", Hash: fmt.Sprintf("%064x", n+i+1), Scopes: fsm.Capabilities}})
			}
		})
		b.Run(fmt.Sprintf("keys=%d/quota-sync", n), func(b *testing.B) {
			key := fsm.QuotaKey(fsm.ScopeKey, "k0", fsm.KindRPM)
			for b.Loop() {
				bl.Apply(fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: "a", TTL: 10 * time.Minute, Items: []fsm.QuotaSyncItem{{Key: key, Spent: 1, Want: 1}}})
			}
		})
		b.Run(fmt.Sprintf("keys=%d/usage-add", n), func(b *testing.B) {
			// A node's batch: ten keys' requests of the last second.
			for i := 0; b.Loop(); i++ {
				body := fsm.UsageAddBody{Stream: "a", From: uint64(i + 1), To: uint64(i + 1), LastUsed: map[string]int64{}}
				for j := range 10 {
					id := fmt.Sprintf("k%d", (i*10+j)%n)
					body.Rows = append(body.Rows, fsm.UsageRow{Start: hour, Span: 3600, UsageDims: fsm.UsageDims{Org: "org1", Key: id, Model: "m"},
						UsageCount: fsm.UsageCount{Requests: 1}})
					body.LastUsed[id] = now.Unix()
				}
				bl.Apply(fsm.TypeUsageAdd, body)
			}
		})
	}
}
