// Package console is the admin console: server-rendered pages on the
// data plane's port, with htmx and uPlot vendored as static files, so a
// browser loads nothing from outside the node. It is an adapter over
// admin/ops like the JSON API (package admin, which mounts it): a form
// handler reads its form, calls one operation and shows the result or
// the error on the page. Every action checks the role on the server and
// carries a CSRF token; sessions are the API's (admin/web), in an
// HttpOnly, SameSite=Strict cookie. It never imports package admin: what
// it shows as the API shows it comes through the API interface.
package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/cluster"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

//go:embed templates/*.html
var consoleTemplates embed.FS

//go:embed static
var consoleStatic embed.FS

// Cluster is what the console reads of the node: the read barrier, and
// the members for the overview and cluster pages.
type Cluster interface {
	web.Barrierer
	Members(ctx context.Context) ([]cluster.MemberInfo, error)
	Leader() string
}

// UsageStore answers usage and audit queries (admin.UsageStore).
type UsageStore interface {
	Usage(ctx context.Context, q event.UsageQuery) (*event.UsageReport, error)
	Audit(ctx context.Context, q event.AuditQuery) (*event.AuditPage, error)
}

// API is what the console shows as the JSON API shows it, so a page and
// an API answer never disagree: the API's views of records (rendered by
// field name) and its usage filter and audit lookup with their access
// checks. Package admin implements it.
type API interface {
	ProviderView(p *fsm.Provider) any
	PolicyView(p *fsm.Policy) any
	PriceView(p *fsm.Price) any
	// UsersView lists, sorted by email, the users c may see that keep
	// selects.
	UsersView(c ops.Caller, keep func(*fsm.User) bool) []any
	// Filter reads the usage filters of q for the request's user.
	Filter(r *http.Request, q url.Values) (event.Filter, *time.Location, error)
	// Event is an audit event the request's user may see.
	Event(r *http.Request, id string) (*event.Event, error)
}

// Config configures the console.
type Config struct {
	// Version is shown in the footer.
	Version string
	// SystemWebhook says a system alert webhook is configured.
	SystemWebhook bool
	// DefaultOrgName is the seed's org, whose time zone a super admin's
	// overview is in.
	DefaultOrgName string
}

// Deps are the console's collaborators.
type Deps struct {
	Ops *ops.Ops
	// Auth checks sessions and passwords, shared with the JSON API.
	Auth    *web.Auth
	Viewer  web.Viewer
	Cluster Cluster
	Usage   UsageStore
	API     API
	// Alerts lists this node's recent alert deliveries; nil lists none.
	Alerts func() []AlertRecord
	Logger *slog.Logger
	Now    func() time.Time
}

// Console serves the console's pages and assets.
type Console struct {
	ops   *ops.Ops
	pages map[string]*template.Template
	cfg   Config
	d     Deps
	log   *slog.Logger
}

// New parses the console's templates.
func New(cfg Config, d Deps) (*Console, error) {
	if d.Ops == nil || d.Auth == nil || d.Viewer == nil || d.Cluster == nil || d.Usage == nil || d.API == nil || d.Now == nil {
		return nil, errors.New("console: ops, auth, viewer, cluster, usage, api and clock are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	// The console's lines keep the admin component they always had.
	s := &Console{ops: d.Ops, cfg: cfg, d: d, log: d.Logger.With("component", "admin")}
	if err := s.parseConsole(); err != nil {
		return nil, fmt.Errorf("admin: console templates: %w", err)
	}
	return s, nil
}

// principal is the signed-in user of a console request.
type principal struct {
	user *fsm.User
}

func principalFrom(ctx context.Context) principal { return principal{user: web.UserFrom(ctx)} }

// caller is the principal as the operations know it.
func (p principal) caller() ops.Caller { return ops.Caller{User: p.user} }

func (p principal) super() bool { return p.caller().Super() }

// canRead reports whether p may see org's records.
func (p principal) canRead(orgID string) bool { return p.caller().CanRead(orgID) }

// canManage reports whether p may change org's keys and policy.
func (p principal) canManage(orgID string) bool { return p.caller().CanManage(orgID) }

// fail renders a failed read barrier as a console page would.
func (s *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("console read refused: state not confirmed current", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "2")
	http.Error(w, translate(langOf(r), "err.unavailable"), http.StatusServiceUnavailable)
}

const (
	// LangCookie holds the console's language (zh or en).
	LangCookie      = "tg_lang"
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
func (s *Console) parseConsole() error {
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
	pages, err := fs.Glob(consoleTemplates, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(p[strings.LastIndexByte(p, '/')+1:], ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(consoleTemplates, "templates/layout.html", p)
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// render writes a page, in the language of the request.
func (s *Console) render(w http.ResponseWriter, r *http.Request, name string, pg page) {
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
	if c, err := r.Cookie(LangCookie); err == nil && c.Value == "en" {
		return "en"
	}
	return "zh"
}

// sessionToken is the request's session cookie value.
func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(web.SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// csrfToken is bound to the session: a form posted from another site has
// no way to know it.
func (s *Console) csrfToken(r *http.Request) string {
	sum := s.d.Auth.Keyring.Sign([]byte("csrf|" + sessionToken(r)))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// checkCSRF refuses a console form without the session's token.
func (s *Console) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(r)))
}

// consoleAuth lets signed-in users through and sends others to sign in.
// A user still on the seed's default password is sent to change it.
func (s *Console) consoleAuth(next http.Handler) http.Handler {
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
		next.ServeHTTP(w, r.WithContext(web.WithUser(r.Context(), u)))
	})
}

// sessionUser is the user of a valid session cookie, or nil.
func (s *Console) sessionUser(r *http.Request) *fsm.User {
	tok := sessionToken(r)
	if tok == "" {
		return nil
	}
	u, err := s.d.Auth.Verify(tok)
	if err != nil {
		return nil
	}
	return u
}

// Register mounts the console's pages and assets.
func (s *Console) Register(r chi.Router) {
	static, _ := fs.Sub(consoleStatic, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
	r.Get("/login", s.loginPage)
	r.With(web.Consistent(s.d.Cluster, s.fail)).Post("/login", s.loginSubmit)
	r.Get("/lang", s.switchLang)
	r.Group(func(r chi.Router) {
		r.Use(web.Consistent(s.d.Cluster, s.fail), s.consoleAuth)
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

func (s *Console) switchLang(w http.ResponseWriter, r *http.Request) {
	lang := "zh"
	if r.URL.Query().Get("to") == "en" {
		lang = "en"
	}
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back"), "/"), http.StatusSeeOther)
}

// localPath keeps a redirect target on this site.
func localPath(p, def string) string {
	// Browsers drop tabs and line breaks anywhere in a URL and read a
	// backslash as a slash, so "/\t/evil.example" would leave the site:
	// a path with any of them, or any other control or space, is refused
	// rather than cleaned.
	if strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return def
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return def
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" {
		return def
	}
	return p
}

func (s *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessionUser(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, "")
}

// renderLogin shows the sign-in form with a fresh double-submit token:
// a sign-in posted from another site has no way to match the cookie.
func (s *Console) renderLogin(w http.ResponseWriter, r *http.Request, msg string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.d.Auth.SecureCookie(r)})
	s.render(w, r, "login", page{CSRF: tok, Error: msg, Data: map[string]string{"Next": localPath(r.FormValue("next"), "/")}})
}

func (s *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !hmac.Equal([]byte(c.Value), []byte(r.PostFormValue("csrf"))) {
		http.Error(w, translate(langOf(r), "err.csrf"), http.StatusForbidden)
		return
	}
	u, err := s.d.Auth.CheckLogin(r, r.PostFormValue("email"), r.PostFormValue("password"))
	if err != nil {
		msg := translate(langOf(r), "login.wrong")
		if ae, ok := err.(*web.APIError); ok && ae.Code == "too_many_attempts" {
			msg = translate(langOf(r), "login.locked")
			w.WriteHeader(http.StatusTooManyRequests)
		}
		s.renderLogin(w, r, msg)
		return
	}
	s.d.Auth.SetSession(w, r, u)
	http.Redirect(w, r, localPath(r.PostFormValue("next"), "/"), http.StatusSeeOther)
}

func (s *Console) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	s.d.Auth.ClearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// formatMicros shows micro-units of a currency as a decimal amount.
func formatMicros(v int64) string { return fsm.FormatDecimal(v, 6) }
