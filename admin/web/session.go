package web

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// SessionCookie is the console's session cookie name.
const SessionCookie = "tg_session"

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// ErrBadSession covers every way a token can fail; callers answer 401.
var ErrBadSession = errors.New("admin: invalid or expired session")

// Session is the signed content of a token. Tokens are stateless so every
// node verifies them from replicated state alone; bumping the user's
// SessionGen (password change) invalidates all of them.
type Session struct {
	UserID string `json:"uid"`
	Gen    uint64 `json:"gen"`
	Exp    int64  `json:"exp"` // unix seconds
}

// IssueToken signs s.
func (k *Keyring) IssueToken(s Session) string {
	payload, _ := json.Marshal(s)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return "tgs_" + p + "." + base64.RawURLEncoding.EncodeToString(k.Sign([]byte(p)))
}

// ParseToken verifies a token's signature and expiry.
func (k *Keyring) ParseToken(tok string, now time.Time) (Session, error) {
	tok, ok := strings.CutPrefix(tok, "tgs_")
	if !ok {
		return Session{}, ErrBadSession
	}
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return Session{}, ErrBadSession
	}
	want := k.Sign([]byte(p))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return Session{}, ErrBadSession
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Session{}, ErrBadSession
	}
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil || s.UserID == "" {
		return Session{}, ErrBadSession
	}
	if now.Unix() >= s.Exp {
		return Session{}, ErrBadSession
	}
	return s, nil
}
