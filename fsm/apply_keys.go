package fsm

func init() {
	register(TypeKeyUpsert, applyKeyUpsert)
	register(TypeKeyDelete, applyKeyRevoke)
}

func applyKeyUpsert(next *State, c decoded, b KeyUpsertBody, index uint64) (*Key, error) {
	k := b.Key
	if err := k.Validate(); err != nil {
		return nil, err
	}
	old, err := checkUpsert(next.Key(k.ID), k.ID, b.Create, b.ExpectVersion, func(k *Key) uint64 { return k.Version }, "key")
	if err != nil {
		return nil, err
	}
	if _, ok := next.Orgs[k.OrgID]; !ok {
		return nil, notFound("org %q not found", k.OrgID)
	}
	sum, ok := hashKey(k.Hash)
	if !ok {
		return nil, invalid("hash", "must be a hex SHA-256")
	}
	if old != nil {
		if old.Hash != k.Hash {
			return nil, invalid("hash", "a key's secret cannot change")
		}
		if old.RevokedAt != nil {
			return nil, conflict("id", "key %q is revoked", k.ID)
		}
		k.CreatedAt, k.CreatedBy = old.CreatedAt, old.CreatedBy
	} else {
		if _, dup := next.keysByHash.Get(sum); dup {
			return nil, conflict("hash", "a key with this secret already exists")
		}
		k.CreatedAt = c.Time
	}
	k.RevokedAt = nil
	k.UpdatedAt, k.Version = c.Time, index
	next.putKey(&k, sum)
	return &k, nil
}

// applyKeyRevoke marks a key revoked. The record stays, so audit events and
// bills that name it still resolve; the key never authenticates again.
func applyKeyRevoke(next *State, c decoded, b DeleteBody, index uint64) (*Key, error) {
	old := next.Key(b.ID)
	if old == nil {
		return nil, notFound("key %q not found", b.ID)
	}
	if old.RevokedAt != nil {
		return old, nil
	}
	k := *old
	at := c.Time
	k.RevokedAt = &at
	k.UpdatedAt, k.Version = c.Time, index
	sum, _ := hashKey(k.Hash) // validated when the key was stored
	next.putKey(&k, sum)
	return &k, nil
}

// putKey stores k, found by its id and by sum, the SHA-256 of its secret.
func (s *State) putKey(k *Key, sum [32]byte) {
	keys, byHash := s.keys.edit(), s.keysByHash.edit()
	keys.Set(k.ID, k)
	byHash.Set(sum, k)
	s.keys, s.keysByHash = keys.done(), byHash.done()
}
