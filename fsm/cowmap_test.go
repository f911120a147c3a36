package fsm

import (
	"maps"
	"math/rand/v2"
	"testing"
)

// TestCowMapMatchesAMapAndKeepsOldVersions: random edits give what a Go
// map gives, and every earlier version still reads as it was.
func TestCowMapMatchesAMapAndKeepsOldVersions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var (
		m        cowMap[int, int]
		want     = map[int]int{}
		versions []cowMap[int, int]
		wants    []map[int]int
	)
	for round := range 300 {
		e := m.edit()
		for range 1 + rng.IntN(40) {
			k := rng.IntN(2000)
			if rng.IntN(3) == 0 {
				e.Delete(k)
				delete(want, k)
			} else {
				e.Set(k, round)
				want[k] = round
			}
			w, in := want[k]
			if v, ok := e.Get(k); ok != in || v != w {
				t.Fatalf("round %d: the edit reads %d %v for %d, want %d %v", round, v, ok, k, w, in)
			}
		}
		m = e.done()
		versions, wants = append(versions, m), append(wants, maps.Clone(want))
	}
	for i, v := range versions {
		if v.Len() != len(wants[i]) {
			t.Fatalf("version %d: %d entries, want %d", i, v.Len(), len(wants[i]))
		}
		if got := maps.Collect(v.All()); !maps.Equal(got, wants[i]) {
			t.Fatalf("version %d changed after later edits", i)
		}
		for k, x := range wants[i] {
			if y, ok := v.Get(k); !ok || y != x {
				t.Fatalf("version %d: Get(%d) = %d %v, want %d", i, k, y, ok, x)
			}
		}
	}
	// An edit that empties the map leaves the zero value.
	e := m.edit()
	for k := range m.All() {
		e.Delete(k)
	}
	if m = e.done(); m.Len() != 0 || m.shards != nil {
		t.Fatalf("emptied map: %d entries", m.Len())
	}
	if _, ok := m.Get(1); ok {
		t.Fatal("the empty map has an entry")
	}
}
