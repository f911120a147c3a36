package admin

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/tensorgate/tensorgate/admin/ops"
	"strings"
	"time"
)

// SessionCookie is the console's session cookie name.
const SessionCookie = "tg_session"

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// errBadSession covers every way a token can fail; callers answer 401.
var errBadSession = errors.New("admin: invalid or expired session")

// session is the signed content of a token. Tokens are stateless so every
// node verifies them from replicated state alone; bumping the user's
// SessionGen (password change) invalidates all of them.
type session struct {
	UserID string `json:"uid"`
	Gen    uint64 `json:"gen"`
	Exp    int64  `json:"exp"` // unix seconds
}

func (k *Keyring) issueToken(s session) string {
	payload, _ := json.Marshal(s)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return "tgs_" + p + "." + base64.RawURLEncoding.EncodeToString(k.sign([]byte(p)))
}

func (k *Keyring) parseToken(tok string, now time.Time) (session, error) {
	tok, ok := strings.CutPrefix(tok, "tgs_")
	if !ok {
		return session{}, errBadSession
	}
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return session{}, errBadSession
	}
	want := k.sign([]byte(p))
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return session{}, errBadSession
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return session{}, errBadSession
	}
	var s session
	if err := json.Unmarshal(raw, &s); err != nil || s.UserID == "" {
		return session{}, errBadSession
	}
	if now.Unix() >= s.Exp {
		return session{}, errBadSession
	}
	return s, nil
}

// HashPassword returns the argon2id PHC string of pw.
func HashPassword(pw string) (string, error) { return ops.HashPassword(pw) }

// checkPassword reports whether pw matches the PHC hash.
func checkPassword(pw, hash string) bool { return ops.CheckPassword(pw, hash) }
