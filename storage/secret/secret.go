// Package secret seals values at rest: provider keys and other secrets are
// encrypted with AES-256-GCM under a key derived from BETTER_AUTH_SECRET
// before they enter the raft log, snapshots or backups, and are opened only
// in memory on the node that uses them.
//
// Every sealed value is bound to a purpose string naming the record it
// belongs to, so a ciphertext copied to another record does not open.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealV1 prefixes every sealed value: AES-256-GCM, 12-byte nonce.
const sealV1 byte = 1

// ErrOpen reports a sealed value that does not open with this key: it was
// corrupted, or sealed under another BETTER_AUTH_SECRET.
var ErrOpen = errors.New("secret: cannot decrypt (was BETTER_AUTH_SECRET changed?)")

// MinSecretLen is the shortest accepted BETTER_AUTH_SECRET.
const MinSecretLen = 16

// Sealer seals and opens values with a key derived from the auth secret.
type Sealer struct {
	aead cipher.AEAD
	// previous opens what was sealed under the secret before a rotation.
	previous *Sealer
}

// WithPrevious returns a Sealer that seals under s and opens under s or,
// failing that, under prev: the state during a secret rotation, until
// every stored secret is sealed again.
func (s *Sealer) WithPrevious(prev *Sealer) *Sealer {
	return &Sealer{aead: s.aead, previous: prev}
}

// DeriveKey derives a 32-byte key for one use (info) from the auth secret.
func DeriveKey(authSecret, info string) ([]byte, error) {
	if len(authSecret) < MinSecretLen {
		return nil, fmt.Errorf("secret: BETTER_AUTH_SECRET must be at least %d characters", MinSecretLen)
	}
	k, err := hkdf.Key(sha256.New, []byte(authSecret), []byte("tensorgate"), info, 32)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", info, err)
	}
	return k, nil
}

// New returns a Sealer for the auth secret.
func New(authSecret string) (*Sealer, error) {
	key, err := DeriveKey(authSecret, "secrets-at-rest v1")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("init AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("init GCM: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext for purpose.
func (s *Sealer) Seal(purpose string, plaintext []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealV1
	_, _ = rand.Read(out[1:])
	return s.aead.Seal(out, out[1:1+ns], plaintext, []byte(purpose))
}

// Open decrypts a value sealed for purpose.
func (s *Sealer) Open(purpose string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != sealV1 {
		return nil, ErrOpen
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(purpose))
	if err != nil {
		if s.previous != nil {
			return s.previous.Open(purpose, sealed)
		}
		return nil, ErrOpen
	}
	return pt, nil
}

// ProviderPurpose is the purpose of a provider's own upstream key.
func ProviderPurpose(slug string) string { return "provider:" + slug }

// OrgKeyPurpose is the purpose of an org's own key for a provider.
func OrgKeyPurpose(orgID, slug string) string { return "org-key:" + orgID + ":" + slug }

// AlertSecretPurpose is the purpose of an org's webhook signing secret.
func AlertSecretPurpose(orgID string) string { return "alert-secret:" + orgID }
