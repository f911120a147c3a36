package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
)

// principal is the signed-in user of a request.
type principal struct {
	user *fsm.User
}

func principalFrom(ctx context.Context) principal {
	return principal{user: web.UserFrom(ctx)}
}

// caller is the principal as the operations know it.
func (p principal) caller() ops.Caller { return ops.Caller{User: p.user} }

func (p principal) super() bool { return p.caller().Super() }

// canRead reports whether p may see org's records.
func (p principal) canRead(orgID string) bool { return p.caller().CanRead(orgID) }

func (p principal) requireSuper() error { return p.caller().RequireSuper() }

// authenticate accepts "Authorization: Bearer <token>" or the session
// cookie, verified against replicated state so every node agrees.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		if h := r.Header.Get("Authorization"); h != "" {
			var ok bool
			tok, ok = strings.CutPrefix(h, "Bearer ")
			if !ok {
				writeError(w, r, s.log, unauthorized("Authorization must be a Bearer token"))
				return
			}
		} else if c, err := r.Cookie(SessionCookie); err == nil {
			tok = c.Value
			// A browser sends the cookie with a request another site
			// made (a form posting text/plain needs no preflight): an
			// API write on the cookie alone must come from this site.
			if !safeMethod(r.Method) && crossSite(r) {
				writeError(w, r, s.log, forbidden("a cookie-authenticated write must come from this site; send the token as a Bearer token instead"))
				return
			}
		}
		if tok == "" {
			writeError(w, r, s.log, unauthorized("sign in first: POST /api/auth/login, then send the token as a Bearer token"))
			return
		}
		u, err := s.auth.Verify(tok)
		switch {
		case errors.Is(err, web.ErrNotCaughtUp):
			// A well-signed token this node cannot vouch for yet: it
			// has not caught up since it started (a ?stale read on a
			// restarted node), so its state may lack the user or the
			// session. Signing the user out would be wrong; retry.
			writeError(w, r, s.log, &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "service_unavailable",
				Message: "this node has not caught up with the cluster since it started; retry shortly", RetryAfter: time.Second})
			return
		case err != nil:
			writeError(w, r, s.log, unauthorized("invalid or expired session; sign in again"))
			return
		}
		next.ServeHTTP(w, r.WithContext(web.WithUser(r.Context(), u)))
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite reports whether a browser says the request came from another
// site: Sec-Fetch-Site when it sends one, else an Origin whose host is
// not the one asked. A client that sends neither is no browser.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type userJSON struct {
	ID                 string `json:"id"`
	Email              string `json:"email"`
	Name               string `json:"name,omitempty"`
	Role               string `json:"role"`
	OrgID              string `json:"org_id,omitempty"`
	MustChangePassword bool   `json:"must_change_password"`
	Disabled           bool   `json:"disabled,omitempty"`
}

func toUserJSON(u *fsm.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, OrgID: u.OrgID, MustChangePassword: u.MustChangePassword, Disabled: u.Disabled}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Email == "" {
		return badRequest("email", "email: is required")
	}
	if req.Password == "" {
		return badRequest("password", "password: is required")
	}
	u, err := s.checkLogin(r, req.Email, req.Password)
	if err != nil {
		return err
	}
	return s.startSession(w, r, u)
}

// checkLogin verifies an email and password, with the lockout after
// repeated failures (web.Auth.CheckLogin, shared with the console).
func (s *Server) checkLogin(r *http.Request, email, password string) (*fsm.User, error) {
	return s.auth.CheckLogin(r, email, password)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *fsm.User) error {
	tok, exp := s.setSession(w, r, u)
	writeJSON(w, http.StatusOK, map[string]any{
		"token":      tok,
		"expires_at": exp.UTC(),
		"user":       toUserJSON(u),
	})
	return nil
}

// setSession issues a session for u and sets its cookie.
func (s *Server) setSession(w http.ResponseWriter, r *http.Request, u *fsm.User) (string, time.Time) {
	return s.auth.SetSession(w, r, u)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	s.auth.ClearSession(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, toUserJSON(principalFrom(r.Context()).user))
	return nil
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword sets a new password and ends every other session of the
// user by bumping its session generation; it answers a fresh token.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.ops.SetPassword(r.Context(), principalFrom(r.Context()).caller(), req.CurrentPassword, req.NewPassword)
	if err != nil {
		return err
	}
	return s.startSession(w, r, u)
}

func normalizeEmail(e string) string { return ops.NormalizeEmail(e) }
