package admin

import (
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
)

// SessionCookie is the console's session cookie name.
const SessionCookie = web.SessionCookie

// SessionTTL is how long a sign-in lasts.
const SessionTTL = web.SessionTTL

// session is the signed content of a token (web.Session).
type session = web.Session

func (k *Keyring) issueToken(s session) string { return k.Keyring.IssueToken(s) }

// HashPassword returns the argon2id PHC string of pw.
func HashPassword(pw string) (string, error) { return ops.HashPassword(pw) }

// maxFailures is how many wrong passwords lock a sign-in out.
const maxFailures = web.MaxFailures
