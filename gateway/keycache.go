package gateway

import (
	"sync"
	"sync/atomic"
)

// keySlot names one provider key: a provider's stored key (org empty) or
// an org's own key on a provider.
type keySlot struct {
	provider, org string
}

// unsealedKey is a provider key opened once: the sealed bytes it came
// from, to tell a rotated key, and the plaintext.
type unsealedKey struct {
	sealed string
	plain  string
}

// keyCache holds provider keys unsealed, one per slot: a rotated key
// replaces the one it rotated, so the cache holds at most one key per
// provider and per org's own key, never a retired one. Reads take no
// lock and allocate nothing (a copy-on-write map); writes happen once
// per key change.
type keyCache struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[keySlot]unsealedKey]
}

// get returns the plaintext of sealed in slot, if that is the key the
// cache holds there.
func (c *keyCache) get(slot keySlot, sealed []byte) (string, bool) {
	m := c.m.Load()
	if m == nil {
		return "", false
	}
	k, ok := (*m)[slot]
	if !ok || k.sealed != string(sealed) {
		return "", false
	}
	return k.plain, true
}

// put makes plain, unsealed from sealed, the slot's key, replacing the
// key it held.
func (c *keyCache) put(slot keySlot, sealed []byte, plain string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	next := make(map[keySlot]unsealedKey, c.lenLocked(old)+1)
	if old != nil {
		for s, k := range *old {
			next[s] = k
		}
	}
	next[slot] = unsealedKey{sealed: string(sealed), plain: plain}
	c.m.Store(&next)
}

// drop forgets the slot's key: it is no longer sealed in the state.
func (c *keyCache) drop(slot keySlot) {
	if m := c.m.Load(); m == nil {
		return
	} else if _, ok := (*m)[slot]; !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	next := make(map[keySlot]unsealedKey, c.lenLocked(old))
	for s, k := range *old {
		if s != slot {
			next[s] = k
		}
	}
	c.m.Store(&next)
}

// len is how many keys the cache holds.
func (c *keyCache) len() int { return c.lenLocked(c.m.Load()) }

func (c *keyCache) lenLocked(m *map[keySlot]unsealedKey) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
