package admin

import "github.com/tensorgate/tensorgate/admin/ops"

// newID returns a random id with a type prefix, such as "org_9f2c...".
func newID(prefix string) string { return ops.NewID(prefix) }
