package fsm

import (
	"cmp"
	"hash/maphash"
	"iter"
	"slices"
)

// cowShards is how many parts a cowMap is split into.
const cowShards = 256

// cowSeed places keys in shards. It differs between processes, which is
// fine: a shard is never observable, and anything that leaves the fsm in
// an order (snapshots, listings) sorts first.
var cowSeed = maphash.MakeSeed()

// cowMap is an immutable map for State, split into shards so that a
// command that changes a few entries copies only their shards, not the
// whole map: the cost of a write stays flat however many keys, limits or
// counters the cluster holds. The zero value is an empty map.
type cowMap[K comparable, V any] struct {
	shards *[cowShards]map[K]V
	n      int
}

func shardOf[K comparable](k K) int {
	return int(maphash.Comparable(cowSeed, k) % cowShards)
}

// Get returns k's value.
func (m cowMap[K, V]) Get(k K) (V, bool) {
	if m.shards == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[shardOf(k)][k]
	return v, ok
}

// Len is the number of entries.
func (m cowMap[K, V]) Len() int { return m.n }

// All yields every entry, in no particular order.
func (m cowMap[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.shards == nil {
			return
		}
		for _, s := range m.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// edit starts a change; the map itself stays as it is.
func (m cowMap[K, V]) edit() *cowEdit[K, V] {
	e := &cowEdit[K, V]{n: m.n}
	if m.shards != nil {
		e.shards = *m.shards
	}
	return e
}

// cowEdit is a change to a cowMap in progress: shards are copied the first
// time they are written.
type cowEdit[K comparable, V any] struct {
	shards [cowShards]map[K]V
	owned  [cowShards / 64]uint64
	n      int
}

func (e *cowEdit[K, V]) Get(k K) (V, bool) {
	v, ok := e.shards[shardOf(k)][k]
	return v, ok
}

// own makes shard i this edit's own copy.
func (e *cowEdit[K, V]) own(i int) map[K]V {
	if e.owned[i/64]&(1<<(i%64)) == 0 {
		c := make(map[K]V, len(e.shards[i])+1)
		for k, v := range e.shards[i] {
			c[k] = v
		}
		e.shards[i] = c
		e.owned[i/64] |= 1 << (i % 64)
	}
	return e.shards[i]
}

func (e *cowEdit[K, V]) Set(k K, v V) {
	s := e.own(shardOf(k))
	if _, ok := s[k]; !ok {
		e.n++
	}
	s[k] = v
}

func (e *cowEdit[K, V]) Delete(k K) {
	i := shardOf(k)
	if _, ok := e.shards[i][k]; !ok {
		return
	}
	delete(e.own(i), k)
	e.n--
}

// All yields the entries as the edit stands. Entries set or deleted while
// iterating may or may not be seen, as with a Go map.
func (e *cowEdit[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for i := range e.shards {
			for k, v := range e.shards[i] {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// done ends the edit; the edit must not be used after.
func (e *cowEdit[K, V]) done() cowMap[K, V] {
	if e.n == 0 {
		return cowMap[K, V]{}
	}
	s := e.shards
	return cowMap[K, V]{shards: &s, n: e.n}
}

// sortedCowKeys lists m's keys in order, for snapshots.
func sortedCowKeys[K cmp.Ordered, V any](m cowMap[K, V]) []K {
	keys := make([]K, 0, m.Len())
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
