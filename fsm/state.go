package fsm

import (
	"encoding/hex"
	"iter"
	"maps"
	"slices"
	"time"
)

// Meta is cluster-wide bookkeeping written at bootstrap.
type Meta struct {
	ClusterID      string    `json:"cluster_id"`
	BootstrappedAt time.Time `json:"bootstrapped_at"`
	// LogVersion is the highest log version every server applies, raised
	// by the leader (see LogVersion); zero in clusters from before it.
	LogVersion int `json:"log_version,omitempty"`
}

// State is an immutable view of the replicated state. Readers must not
// modify anything reachable from it; Apply replaces the maps it changes.
type State struct {
	Meta      Meta
	Orgs      map[string]*Org
	Users     map[string]*User
	keys      cowMap[string, *Key]
	Providers map[string]*Provider
	// ProviderOrder lists provider slugs in resolution order.
	ProviderOrder []string
	Routes        map[string]*Route
	Prices        map[string]*Price
	Policies      map[string]*Policy
	// quotas are the limits' consumption and leases, by quota key.
	quotas cowMap[string, *Quota]
	// quotaExpiry is no later than the earliest lease expiry in quotas
	// (zero: no lease), so a sync looks for expired leases only when one
	// may have run out, not through every limit every time.
	quotaExpiry time.Time
	// QuotaClock is the latest time a quota command was applied at.
	QuotaClock time.Time
	usageState

	keysByHash   cowMap[[32]byte, *Key]
	usersByEmail map[string]*User
	// Index is the raft index this state reflects.
	Index uint64
}

func emptyState() *State {
	return &State{
		Orgs:         map[string]*Org{},
		Users:        map[string]*User{},
		Providers:    map[string]*Provider{},
		Routes:       map[string]*Route{},
		Prices:       map[string]*Price{},
		Policies:     map[string]*Policy{},
		usersByEmail: map[string]*User{},
	}
}

// clone copies the top-level struct only; each apply clones the maps it
// writes with the with* helpers below.
func (s *State) clone() *State {
	c := *s
	return &c
}

// Bootstrapped reports whether the bootstrap command has been applied.
func (s *State) Bootstrapped() bool { return s.Meta.ClusterID != "" }

// KeyByHash finds a key by the SHA-256 of its secret.
func (s *State) KeyByHash(sum [32]byte) (*Key, bool) {
	return s.keysByHash.Get(sum)
}

// Key is the key with id (revoked ones included), nil when there is none.
func (s *State) Key(id string) *Key {
	k, _ := s.keys.Get(id)
	return k
}

// AllKeys yields every key, revoked ones included, in no particular
// order.
func (s *State) AllKeys() iter.Seq2[string, *Key] { return s.keys.All() }

// KeyCount is the number of keys, revoked ones included.
func (s *State) KeyCount() int { return s.keys.Len() }

// UserByEmail finds a user by email address.
func (s *State) UserByEmail(email string) (*User, bool) {
	u, ok := s.usersByEmail[email]
	return u, ok
}

// OrgByName finds an org by name.
func (s *State) OrgByName(name string) (*Org, bool) {
	for _, o := range s.Orgs {
		if o.Name == name {
			return o, true
		}
	}
	return nil, false
}

// ProvidersInOrder returns every provider in resolution order.
func (s *State) ProvidersInOrder() []*Provider {
	out := make([]*Provider, 0, len(s.ProviderOrder))
	for _, slug := range s.ProviderOrder {
		out = append(out, s.Providers[slug])
	}
	return out
}

// SortedKeys returns a map's keys in order, for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func hashKey(hexHash string) ([32]byte, bool) {
	var sum [32]byte
	b, err := hex.DecodeString(hexHash)
	if err != nil || len(b) != 32 {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

// rebuildIndexes recomputes the secondary indexes from the primary maps.
func (s *State) rebuildIndexes() {
	byHash := cowMap[[32]byte, *Key]{}.edit()
	for _, k := range s.keys.All() {
		if sum, ok := hashKey(k.Hash); ok {
			byHash.Set(sum, k)
		}
	}
	s.keysByHash = byHash.done()
	s.usersByEmail = make(map[string]*User, len(s.Users))
	for _, u := range s.Users {
		s.usersByEmail[u.Email] = u
	}
}
