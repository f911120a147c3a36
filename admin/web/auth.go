package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/fsm"
)

// ErrNotCaughtUp says a well-signed session names a user (or a session
// generation) this node's state does not hold while the node has not
// caught up with the cluster since it started: the session may well be
// valid, so it is not signed out.
var ErrNotCaughtUp = errors.New("admin: this node has not caught up with the cluster since it started")

type ctxKey int

const userKey ctxKey = iota

// WithUser returns ctx carrying the signed-in user.
func WithUser(ctx context.Context, u *fsm.User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// UserFrom is the signed-in user of ctx, or nil.
func UserFrom(ctx context.Context) *fsm.User {
	u, _ := ctx.Value(userKey).(*fsm.User)
	return u
}

// Viewer reads the replicated state.
type Viewer interface {
	View() *fsm.State
}

// Auth verifies sessions and passwords for both adapters, the JSON API
// and the console, so both sign in and out the same way and share one
// sign-in lockout.
type Auth struct {
	Keyring *Keyring
	Viewer  Viewer
	// Ready reports whether the node has caught up since it started.
	Ready func() bool
	Now   func() time.Time
	// SecureCookies marks the session cookie Secure (when served over TLS).
	SecureCookies bool
	Log           *slog.Logger

	guard loginGuard
}

// Verify returns the user of a session token: ErrBadSession when the
// token is forged, expired, or names a user who is gone, disabled or
// signed out since, and ErrNotCaughtUp when the node cannot vouch for
// the latter yet.
func (a *Auth) Verify(tok string) (*fsm.User, error) {
	sess, err := a.Keyring.ParseToken(tok, a.Now())
	if err != nil {
		return nil, ErrBadSession
	}
	u, ok := a.Viewer.View().Users[sess.UserID]
	if !ok || u.Disabled || u.SessionGen != sess.Gen {
		if !a.Ready() {
			return nil, ErrNotCaughtUp
		}
		return nil, ErrBadSession
	}
	return u, nil
}

var (
	dummyHashOnce sync.Once
	dummyHash     string
)

// CheckLogin verifies an email and password, with the lockout after
// repeated failures.
func (a *Auth) CheckLogin(r *http.Request, email, password string) (*fsm.User, error) {
	email = ops.NormalizeEmail(email)
	key := guardKey(r, email)
	now := a.Now()
	if err := a.guard.check(key, now); err != nil {
		return nil, err
	}
	wrong := &APIError{Status: http.StatusUnauthorized, Type: "authentication_error", Code: "invalid_credentials", Message: "wrong email or password"}
	u, ok := a.Viewer.View().UserByEmail(email)
	if !ok {
		// Spend the same time as a real check so response times don't tell
		// which emails exist.
		dummyHashOnce.Do(func() { dummyHash, _ = ops.HashPassword("tensorgate-dummy-password") })
		ops.CheckPassword(password, dummyHash)
		a.guard.failed(key, now)
		return nil, wrong
	}
	if !ops.CheckPassword(password, u.PasswordHash) || u.Disabled {
		a.Log.Warn("failed sign-in", "user_id", u.ID)
		a.guard.failed(key, now)
		return nil, wrong
	}
	a.guard.succeeded(key)
	return u, nil
}

// SetSession issues a session for u and sets its cookie.
func (a *Auth) SetSession(w http.ResponseWriter, r *http.Request, u *fsm.User) (string, time.Time) {
	exp := a.Now().Add(SessionTTL)
	tok := a.Keyring.IssueToken(Session{UserID: u.ID, Gen: u.SessionGen, Exp: exp.Unix()})
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: tok, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.SecureCookie(r),
	})
	return tok, exp
}

// ClearSession removes the session cookie.
func (a *Auth) ClearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.SecureCookie(r)})
}

// SecureCookie reports whether session cookies must be Secure: always
// when configured, and whenever the request came over TLS (directly or
// through a proxy that says so).
func (a *Auth) SecureCookie(r *http.Request) bool {
	return a.SecureCookies || r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// KeyStatus is a key's state as the API and the console show it: active,
// disabled, expired or revoked.
func KeyStatus(k *fsm.Key, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.Disabled:
		return "disabled"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	}
	return "active"
}
