package admin

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/fsm"
)

// The console: server-rendered pages on the data plane's port, with htmx
// and uPlot vendored as static files, so a browser loads nothing from
// outside the node. Every action checks the role on the server and
// carries a CSRF token; sessions are the API's, in an HttpOnly,
// SameSite=Strict cookie.

//go:embed console/templates/*.html
var consoleTemplates embed.FS

//go:embed console/static
var consoleStatic embed.FS

const (
	langCookie      = "tg_lang"
	loginCSRFCookie = "tg_login_csrf"
)

// page is what every template gets.
type page struct {
	Lang    string
	Title   string
	Active  string
	User    *fsm.User
	Role    string
	CSRF    string
	Path    string
	Notice  string
	Error   string
	Data    any
	Version string
	Super   bool
	Manager bool // may change the org's keys and policy
}

// consoleTmpl parses the templates once per page, each with the layout.
func (s *Server) parseConsole() error {
	funcs := template.FuncMap{
		"t":    func(lang, key string) string { return translate(lang, key) },
		"ts":   func(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04:05") },
		"join": strings.Join,
		"json": func(v any) template.JS {
			b, _ := json.Marshal(v)
			return template.JS(b)
		},
		"money": formatMicros,
		"list":  func(v ...string) []string { return v },
		// capabilities are the data plane's, in the table's order
		// (fsm.CapabilityTable): the menu lists one page each.
		"capabilities": func() []fsm.Capability { return fsm.CapabilityTable },
		"add":          func(a, b int64) int64 { return a + b },
		"has":          slices.Contains[[]string],
		"args":         func(v ...any) []any { return v },
	}
	pages, err := fs.Glob(consoleTemplates, "console/templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(p[strings.LastIndexByte(p, '/')+1:], ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(consoleTemplates, "console/templates/layout.html", p)
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// render writes a page, in the language of the request.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, pg page) {
	pg.Lang = langOf(r)
	pg.Path = r.URL.Path
	pg.Version = s.cfg.Version
	if p := principalFrom(r.Context()); p.user != nil {
		pg.User, pg.Role, pg.Super = p.user, p.user.Role, p.super()
		pg.Manager = p.super() || p.user.Role == fsm.RoleOrgAdmin
		pg.CSRF = s.csrfToken(r)
	}
	if pg.Title == "" {
		pg.Title = translate(pg.Lang, "nav."+name)
	}
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout.html", pg); err != nil {
		s.log.Error("render console page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	_, _ = w.Write(b.Bytes())
}

func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && c.Value == "en" {
		return "en"
	}
	return "zh"
}

// sessionToken is the request's session cookie value.
func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// csrfToken is bound to the session: a form posted from another site has
// no way to know it.
func (s *Server) csrfToken(r *http.Request) string {
	sum := s.d.Keyring.Sign([]byte("csrf|" + sessionToken(r)))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// checkCSRF refuses a console form without the session's token.
func (s *Server) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(r)))
}

// consoleAuth lets signed-in users through and sends others to sign in.
// A user still on the seed's default password is sent to change it.
func (s *Server) consoleAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := s.sessionUser(r)
		if u == nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if u.MustChangePassword && r.URL.Path != "/password" && r.URL.Path != "/logout" {
			http.Redirect(w, r, "/password", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(r) {
			http.Error(w, translate(langOf(r), "err.csrf"), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, principal{user: u})))
	})
}

// sessionUser is the user of a valid session cookie, or nil.
func (s *Server) sessionUser(r *http.Request) *fsm.User {
	tok := sessionToken(r)
	if tok == "" {
		return nil
	}
	u, err := s.auth.Verify(tok)
	if err != nil {
		return nil
	}
	return u
}

// registerConsole mounts the console's pages and assets.
func (s *Server) registerConsole(r chi.Router) {
	static, _ := fs.Sub(consoleStatic, "console/static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
	r.Get("/login", s.loginPage)
	r.With(s.consistent(s.consoleFail)).Post("/login", s.loginSubmit)
	r.Get("/lang", s.switchLang)
	r.Group(func(r chi.Router) {
		r.Use(s.consistent(s.consoleFail), s.consoleAuth)
		r.Post("/logout", s.logoutSubmit)
		r.Get("/password", s.passwordPage)
		r.Post("/password", s.passwordSubmit)
		r.Get("/", s.overviewPage)
		r.Get("/keys", s.keysPage)
		r.Post("/keys", s.keysCreate)
		r.Post("/keys/{id}/{action}", s.keysAction)
		r.Get("/cap/{cap}", s.providersPage)
		r.Post("/cap/{cap}/providers", s.providersCreate)
		r.Post("/cap/{cap}/providers/{slug}", s.providersUpdate)
		r.Post("/cap/{cap}/providers/{slug}/own-key", s.providersOwnKey)
		r.Post("/cap/{cap}/providers/{slug}/models", s.providersModels)
		r.Post("/cap/{cap}/providers/{slug}/test", s.providersTest)
		r.Get("/alerts", s.alertsPage)
		r.Post("/alerts/{org}", s.alertsSave)
		r.Get("/routing", s.routingPage)
		r.Post("/routing/routes", s.routesSave)
		r.Post("/routing/prices", s.pricesSave)
		r.Post("/routing/policies/{org}", s.policySave)
		r.Get("/orgs", s.orgsPage)
		r.Post("/orgs", s.orgsCreate)
		r.Post("/orgs/{org}/members", s.membersCreate)
		r.Post("/users/{id}/{action}", s.membersAction)
		r.Get("/usage", s.usagePage)
		r.Get("/usage.csv", s.usageCSV)
		r.Get("/audit", s.auditPage)
		r.Get("/audit/{id}", s.auditDetail)
		r.Get("/cluster", s.clusterPage)
		r.Post("/cluster/transfer-leader", s.clusterTransfer)
		r.Post("/cluster/members/{id}/remove", s.clusterRemove)
	})
}

func (s *Server) switchLang(w http.ResponseWriter, r *http.Request) {
	lang := "zh"
	if r.URL.Query().Get("to") == "en" {
		lang = "en"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back"), "/"), http.StatusSeeOther)
}

// localPath keeps a redirect target on this site.
func localPath(p, def string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return def
	}
	return p
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessionUser(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, "")
}

// renderLogin shows the sign-in form with a fresh double-submit token:
// a sign-in posted from another site has no way to match the cookie.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, msg string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secureCookie(r)})
	s.render(w, r, "login", page{CSRF: tok, Error: msg, Data: map[string]string{"Next": localPath(r.FormValue("next"), "/")}})
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !hmac.Equal([]byte(c.Value), []byte(r.PostFormValue("csrf"))) {
		http.Error(w, translate(langOf(r), "err.csrf"), http.StatusForbidden)
		return
	}
	u, err := s.checkLogin(r, r.PostFormValue("email"), r.PostFormValue("password"))
	if err != nil {
		msg := translate(langOf(r), "login.wrong")
		if ae, ok := err.(*apiError); ok && ae.Code == "too_many_attempts" {
			msg = translate(langOf(r), "login.locked")
			w.WriteHeader(http.StatusTooManyRequests)
		}
		s.renderLogin(w, r, msg)
		return
	}
	s.setSession(w, r, u)
	http.Redirect(w, r, localPath(r.PostFormValue("next"), "/"), http.StatusSeeOther)
}

func (s *Server) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureCookie(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// formatMicros shows micro-units of a currency as a decimal amount.
func formatMicros(v int64) string { return fsm.FormatDecimal(v, 6) }
