package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"github.com/tensorgate/tensorgate/storage/secret"
)

// SeedAuthSecret is the built-in BETTER_AUTH_SECRET used when none is set.
// It works, so a first start needs no setup, but the node warns while it is
// in use.
const SeedAuthSecret = "better-auth-secret-change-me-in-production"

// Keyring holds the keys derived from BETTER_AUTH_SECRET: the sealer for
// secrets at rest and the session signing key.
type Keyring struct {
	*secret.Sealer
	sessionKey []byte
}

// NewKeyring derives the secret-sealing and session-signing keys. A
// previous secret, during a rotation, still opens what was sealed under
// it (sessions signed under it end).
func NewKeyring(authSecret string, previous ...string) (*Keyring, error) {
	sealer, err := secret.New(authSecret)
	if err != nil {
		return nil, err
	}
	for _, p := range previous {
		if p == "" || p == authSecret {
			continue
		}
		old, err := secret.New(p)
		if err != nil {
			return nil, err
		}
		sealer = sealer.WithPrevious(old)
	}
	sessKey, err := secret.DeriveKey(authSecret, "sessions v1")
	if err != nil {
		return nil, fmt.Errorf("derive session key: %w", err)
	}
	return &Keyring{Sealer: sealer, sessionKey: sessKey}, nil
}

// Sign returns the session MAC of msg.
func (k *Keyring) Sign(msg []byte) []byte {
	m := hmac.New(sha256.New, k.sessionKey)
	m.Write(msg)
	return m.Sum(nil)
}
