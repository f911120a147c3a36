package admin

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// SeedAuthSecret is the seed deployment's default BETTER_AUTH_SECRET. It
// works, so a first start needs no setup, but the node warns while it is in
// use.
const SeedAuthSecret = "better-auth-secret-change-me-in-production"

// sealV1 prefixes every sealed value: AES-256-GCM, 12-byte nonce.
const sealV1 byte = 1

// ErrUnseal reports a sealed value that does not open with this node's key:
// it was corrupted, or sealed under another BETTER_AUTH_SECRET.
var ErrUnseal = errors.New("admin: cannot decrypt secret (was BETTER_AUTH_SECRET changed?)")

// Keyring holds the keys derived from BETTER_AUTH_SECRET.
type Keyring struct {
	aead       cipher.AEAD
	sessionKey []byte
}

// NewKeyring derives the secret-sealing and session-signing keys.
func NewKeyring(authSecret string) (*Keyring, error) {
	if len(authSecret) < 16 {
		return nil, errors.New("admin: BETTER_AUTH_SECRET must be at least 16 characters")
	}
	sealKey, err := hkdf.Key(sha256.New, []byte(authSecret), []byte("tensorgate"), "secrets-at-rest v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	sessKey, err := hkdf.Key(sha256.New, []byte(authSecret), []byte("tensorgate"), "sessions v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive session key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("init AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("init GCM: %w", err)
	}
	return &Keyring{aead: aead, sessionKey: sessKey}, nil
}

// Seal encrypts plaintext bound to purpose (for example "provider:dashscope"),
// so a ciphertext can't be moved to another record and still open.
func (k *Keyring) Seal(purpose string, plaintext []byte) []byte {
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = sealV1
	_, _ = rand.Read(out[1:])
	return k.aead.Seal(out, out[1:1+k.aead.NonceSize()], plaintext, []byte(purpose))
}

// Open decrypts a value sealed for purpose.
func (k *Keyring) Open(purpose string, sealed []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != sealV1 {
		return nil, ErrUnseal
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(purpose))
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}

// sign returns the session MAC of msg.
func (k *Keyring) sign(msg []byte) []byte {
	m := hmac.New(sha256.New, k.sessionKey)
	m.Write(msg)
	return m.Sum(nil)
}

// ProviderPurpose is the sealing purpose of a provider's own key.
func ProviderPurpose(slug string) string { return "provider:" + slug }

// OrgKeyPurpose is the sealing purpose of an org's own key for a provider.
func OrgKeyPurpose(orgID, slug string) string { return "org-key:" + orgID + ":" + slug }

// AlertSecretPurpose is the sealing purpose of an org's webhook secret.
func AlertSecretPurpose(orgID string) string { return "alert-secret:" + orgID }
