package breaker

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Key names a target's breaker. Org is set only for an org whose policy
// overrides the breaker settings: its calls then have breakers of their
// own.
type Key struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Org      string `json:"org,omitempty"`
}

// Status is one breaker as the admin API and metrics show it.
type Status struct {
	Key
	State string    `json:"state"`
	Until time.Time `json:"until,omitzero"`
}

// Set holds every target's breaker on a node.
type Set struct {
	mu       sync.RWMutex
	m        map[Key]*Breaker
	settings map[Key]Settings
	onChange func(Key, Transition)
}

// NewSet returns an empty set; onChange hears every local transition.
func NewSet(onChange func(Key, Transition)) *Set {
	return &Set{m: map[Key]*Breaker{}, settings: map[Key]Settings{}, onChange: onChange}
}

// Get returns k's breaker, made with s the first time (and again when s
// changes: a policy update starts the breaker afresh).
func (set *Set) Get(k Key, s Settings) *Breaker {
	set.mu.RLock()
	b, cur := set.m[k], set.settings[k]
	set.mu.RUnlock()
	if b != nil && cur == s {
		return b
	}
	set.mu.Lock()
	defer set.mu.Unlock()
	if b = set.m[k]; b != nil && set.settings[k] == s {
		return b
	}
	b = New(s, func(tr Transition) {
		if set.onChange != nil {
			set.onChange(k, tr)
		}
	})
	set.m[k], set.settings[k] = b, s
	return b
}

// Peer applies a transition a peer observed to k's breaker, making it
// (with default settings) if this node has not called the target yet, so
// its first call does not go to a target known to be failing.
func (set *Set) Peer(k Key, now time.Time, open bool, until time.Time) {
	set.mu.RLock()
	b, s := set.m[k], set.settings[k]
	set.mu.RUnlock()
	if b == nil {
		b = set.Get(k, s)
	}
	b.Peer(now, open, until)
}

// Statuses lists every breaker, sorted.
func (set *Set) Statuses() []Status {
	set.mu.RLock()
	out := make([]Status, 0, len(set.m))
	for k, b := range set.m {
		out = append(out, Status{Key: k, State: b.State().String(), Until: b.Until()})
	}
	set.mu.RUnlock()
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Org, b.Org))
	})
	return out
}
