package admin

import "github.com/tensorgate/tensorgate/admin/web"

// SeedAuthSecret is the built-in BETTER_AUTH_SECRET used when none is set.
// It works, so a first start needs no setup, but the node warns while it is
// in use.
const SeedAuthSecret = web.SeedAuthSecret

// Keyring holds the keys derived from BETTER_AUTH_SECRET: the sealer for
// secrets at rest and the session signing key (web.Keyring).
type Keyring struct {
	*web.Keyring
}

// NewKeyring derives the secret-sealing and session-signing keys. A
// previous secret, during a rotation, still opens what was sealed under
// it (sessions signed under it end).
func NewKeyring(authSecret string, previous ...string) (*Keyring, error) {
	k, err := web.NewKeyring(authSecret, previous...)
	if err != nil {
		return nil, err
	}
	return &Keyring{Keyring: k}, nil
}
