package main

import (
	"crypto/sha256"
	"fmt"

	"github.com/tensorgate/tensorgate/storage/secret"
)

// imageLinkInfo names the image-link key among the keys derived from
// BETTER_AUTH_SECRET.
const imageLinkInfo = "image links v2"

// imageLinkKeys returns the key new image links are signed with, derived
// from the auth secret with HKDF like every other key, and the keys links
// were signed with before, still accepted until those links expire.
//
// Before v2 the key was a bare SHA-256 of a label and the secret. Links
// live --image-url-ttl (an hour by default), so the old key can go once
// every node has run v2 for longer than that.
func imageLinkKeys(authSecret string) (key []byte, old [][]byte, err error) {
	key, err = secret.DeriveKey(authSecret, imageLinkInfo)
	if err != nil {
		return nil, nil, fmt.Errorf("derive the image-link key: %w", err)
	}
	v1 := sha256.Sum256([]byte("tensorgate image links v1\x00" + authSecret))
	return key, [][]byte{v1[:]}, nil
}
