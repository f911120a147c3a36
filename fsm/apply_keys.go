package fsm

import "maps"

func init() {
	register(TypeKeyUpsert, applyKeyUpsert)
	register(TypeKeyDelete, applyKeyRevoke)
}

func applyKeyUpsert(next *State, c decoded, index uint64) (any, error) {
	b := decodeBody[KeyUpsertBody](c)
	k := b.Key
	if err := k.Validate(); err != nil {
		return nil, err
	}
	old, err := checkUpsert(next.Keys, k.ID, b.Create, b.ExpectVersion, func(k *Key) uint64 { return k.Version }, "key")
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
		if _, dup := next.keysByHash[sum]; dup {
			return nil, conflict("hash", "a key with this secret already exists")
		}
		k.CreatedAt = c.Time
	}
	k.RevokedAt = nil
	k.UpdatedAt, k.Version = c.Time, index
	next.Keys = with(next.Keys, k.ID, &k)
	byHash := maps.Clone(next.keysByHash)
	byHash[sum] = &k
	next.keysByHash = byHash
	return &k, nil
}

// applyKeyRevoke marks a key revoked. The record stays, so audit events and
// bills that name it still resolve; the key never authenticates again.
func applyKeyRevoke(next *State, c decoded, index uint64) (any, error) {
	b := decodeBody[DeleteBody](c)
	old, ok := next.Keys[b.ID]
	if !ok {
		return nil, notFound("key %q not found", b.ID)
	}
	if old.RevokedAt != nil {
		return old, nil
	}
	k := *old
	at := c.Time
	k.RevokedAt = &at
	k.UpdatedAt, k.Version = c.Time, index
	next.Keys = with(next.Keys, k.ID, &k)
	if sum, ok := hashKey(k.Hash); ok {
		byHash := maps.Clone(next.keysByHash)
		byHash[sum] = &k
		next.keysByHash = byHash
	}
	return &k, nil
}
