package fsm

import "maps"

// checkUpsert enforces create-versus-replace semantics and optimistic
// concurrency for a record map. It returns the current record, if any.
func checkUpsert[T any](old *T, id string, create bool, expect uint64, version func(*T) uint64, what string) (*T, error) {
	exists := old != nil
	switch {
	case create && exists:
		return nil, conflict("id", "%s %q already exists", what, id)
	case !create && !exists:
		return nil, notFound("%s %q not found", what, id)
	case !create && expect != 0 && version(old) != expect:
		return nil, conflict("version", "%s %q was changed concurrently (version %d, expected %d); reload and retry", what, id, version(old), expect)
	}
	return old, nil
}

// with returns a copy of m with k set to v; the original, shared with older
// views, is untouched.
func with[V any](m map[string]V, k string, v V) map[string]V {
	c := maps.Clone(m)
	if c == nil {
		c = map[string]V{}
	}
	c[k] = v
	return c
}

// without returns a copy of m without k.
func without[V any](m map[string]V, k string) map[string]V {
	c := maps.Clone(m)
	delete(c, k)
	return c
}
