package fsm

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Roles of console users.
const (
	RoleSuperAdmin = "super_admin"
	RoleOrgAdmin   = "org_admin"
	RoleMember     = "member"
)

// Budget periods.
const (
	PeriodDaily   = "daily"
	PeriodMonthly = "monthly"
	PeriodTotal   = "total"
)

// Provider API formats.
const (
	FormatOpenAI    = "openai"
	FormatAnthropic = "anthropic"
	// FormatDashScope is DashScope (阿里云百炼): chat through its
	// OpenAI-compatible mode; image, speech, transcription and OCR through
	// its native APIs.
	FormatDashScope = "dashscope"
)

// Route strategies.
const (
	StrategyPriority     = "priority"
	StrategyWeighted     = "weighted"
	StrategyLeastLatency = "least-latency"
)

// DefaultTimeZone is used for calendar budget periods and the console.
const DefaultTimeZone = "Asia/Shanghai"

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Org is an organization: the unit that owns keys, policies and bills.
type Org struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   uint64    `json:"version"` // raft index of the last change
}

// Validate checks the org's own fields.
func (o *Org) Validate() error {
	if o.ID == "" {
		return invalid("id", "is required")
	}
	if strings.TrimSpace(o.Name) == "" || len(o.Name) > 128 {
		return invalid("name", "must be 1 to 128 characters")
	}
	if o.TimeZone != "" {
		if _, err := time.LoadLocation(o.TimeZone); err != nil {
			return invalid("time_zone", "unknown time zone %q", o.TimeZone)
		}
	}
	return nil
}

// User is a console user.
type User struct {
	ID           string `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name,omitempty"`
	PasswordHash string `json:"password_hash"` // argon2id, PHC string
	Role         string `json:"role"`
	OrgID        string `json:"org_id,omitempty"` // empty for super admins
	// MustChangePassword is set while the seed's default password is in use.
	MustChangePassword bool `json:"must_change_password,omitempty"`
	// SessionGen is bumped on password change; older sessions stop working.
	SessionGen uint64    `json:"session_gen"`
	Disabled   bool      `json:"disabled,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	Version    uint64    `json:"version"`
}

// Validate checks the user's own fields.
func (u *User) Validate() error {
	if u.ID == "" {
		return invalid("id", "is required")
	}
	if !strings.Contains(u.Email, "@") || len(u.Email) > 254 {
		return invalid("email", "must be an email address")
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		return invalid("password", "hash must be argon2id")
	}
	switch u.Role {
	case RoleSuperAdmin:
	case RoleOrgAdmin, RoleMember:
		if u.OrgID == "" {
			return invalid("org_id", "is required for role %s", u.Role)
		}
	default:
		return invalid("role", "must be one of super_admin, org_admin, member")
	}
	return nil
}

// Limits caps a key's or an org's use. Zero means unlimited.
type Limits struct {
	RPM          int64  `json:"rpm,omitempty"`
	TPM          int64  `json:"tpm,omitempty"`
	Concurrency  int64  `json:"concurrency,omitempty"`
	Budget       int64  `json:"budget,omitempty"` // micro-units of the currency
	BudgetPeriod string `json:"budget_period,omitempty"`
}

// Validate checks the limits; field names are prefixed with "limits.".
func (l *Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"rpm", l.RPM}, {"tpm", l.TPM}, {"concurrency", l.Concurrency}, {"budget", l.Budget}} {
		if f.v < 0 {
			return invalid("limits."+f.name, "must not be negative")
		}
	}
	switch l.BudgetPeriod {
	case "", PeriodDaily, PeriodMonthly, PeriodTotal:
	default:
		return invalid("limits.budget_period", "must be daily, monthly or total")
	}
	return nil
}

// Key is a client API key. Only the SHA-256 of its secret is stored.
type Key struct {
	ID        string     `json:"id"`
	OrgID     string     `json:"org_id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"` // first characters of the secret, for display
	Hash      string     `json:"hash"`   // hex SHA-256 of the whole secret
	Scopes    []string   `json:"scopes"`
	Models    []string   `json:"models"`
	Limits    Limits     `json:"limits"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Disabled  bool       `json:"disabled,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Version   uint64     `json:"version"`
}

// Validate checks the key's own fields.
func (k *Key) Validate() error {
	if k.ID == "" {
		return invalid("id", "is required")
	}
	if k.OrgID == "" {
		return invalid("org_id", "is required")
	}
	if strings.TrimSpace(k.Name) == "" || len(k.Name) > 128 {
		return invalid("name", "must be 1 to 128 characters")
	}
	if len(k.Hash) != 64 {
		return invalid("hash", "must be a hex SHA-256")
	}
	if len(k.Scopes) == 0 {
		return invalid("scopes", "must list at least one capability or path prefix")
	}
	for _, s := range k.Scopes {
		if !IsCapability(s) && !strings.HasPrefix(s, "/v1/") {
			return invalid("scopes", "%q is neither a capability (%s) nor a /v1/ path prefix", s, strings.Join(Capabilities, ", "))
		}
	}
	for _, m := range k.Models {
		if strings.TrimSpace(m) == "" {
			return invalid("models", "must not contain empty names")
		}
	}
	return k.Limits.Validate()
}

// Usable reports whether the key may authenticate at time now.
func (k *Key) Usable(now time.Time) bool {
	if k.Disabled || k.RevokedAt != nil {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Provider is an upstream model service.
type Provider struct {
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Format  string `json:"format"`
	BaseURL string `json:"base_url"`
	APIPath string `json:"api_path"`
	// APIKeyCipher is the upstream key sealed with the secrets key
	// (AES-GCM); empty when the provider has no key of its own.
	APIKeyCipher []byte `json:"api_key_cipher,omitempty"`
	// KeyEnv names the environment variable that holds the system's key
	// for this provider (DASHSCOPE_API_KEY for the preloaded dashscope). A
	// stored key takes precedence. The variable's value never enters the
	// replicated state.
	KeyEnv       string    `json:"key_env,omitempty"`
	Models       []string  `json:"models"`
	Capabilities []string  `json:"capabilities"`
	Enabled      bool      `json:"enabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      uint64    `json:"version"`
	// DisabledModels are models of the list that are closed: no call is
	// routed to them on this provider until they are opened again.
	DisabledModels []string `json:"disabled_models,omitempty"`
}

// Offers reports whether the provider lists model and has it open.
func (p *Provider) Offers(model string) bool {
	return slices.Contains(p.Models, model) && p.Open(model)
}

// Open reports whether model is not closed on the provider (a route's
// target may name a model the provider does not list).
func (p *Provider) Open(model string) bool { return !slices.Contains(p.DisabledModels, model) }

// DefaultAPIPath is the chat path of a format.
func DefaultAPIPath(format string) string {
	if format == FormatAnthropic {
		return "/v1/messages"
	}
	return "/v1/chat/completions"
}

// Validate checks the provider's own fields.
func (p *Provider) Validate() error {
	if !slugRE.MatchString(p.Slug) {
		return invalid("slug", "must be lowercase letters, digits, '-' or '_', starting with a letter or digit")
	}
	if strings.TrimSpace(p.Name) == "" || len(p.Name) > 128 {
		return invalid("name", "must be 1 to 128 characters")
	}
	if p.Format != FormatOpenAI && p.Format != FormatAnthropic && p.Format != FormatDashScope {
		return invalid("format", "must be openai, anthropic or dashscope")
	}
	u, err := url.Parse(p.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("base_url", "must be an http or https URL")
	}
	if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1") {
		return invalid("base_url", "must not end in /v1; the API path carries it")
	}
	if !strings.HasPrefix(p.APIPath, "/") {
		return invalid("api_path", "must start with /")
	}
	for _, m := range p.Models {
		if strings.TrimSpace(m) == "" {
			return invalid("models", "must not contain empty names")
		}
	}
	for _, m := range p.DisabledModels {
		if !slices.Contains(p.Models, m) {
			return invalid("disabled_models", "%q is not one of the provider's models", m)
		}
	}
	for _, c := range p.Capabilities {
		if !IsCapability(c) {
			return invalid("capabilities", "%q is not a capability (%s)", c, strings.Join(Capabilities, ", "))
		}
	}
	return nil
}

// Target is one upstream choice of a route.
type Target struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Weight   int    `json:"weight,omitempty"`
}

// Route maps a model name clients send to upstream targets.
type Route struct {
	Model     string    `json:"model"`
	Strategy  string    `json:"strategy"`
	Targets   []Target  `json:"targets"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   uint64    `json:"version"`
}

// Validate checks the route's own fields.
func (r *Route) Validate() error {
	if strings.TrimSpace(r.Model) == "" {
		return invalid("model", "is required")
	}
	switch r.Strategy {
	case StrategyPriority, StrategyWeighted, StrategyLeastLatency:
	default:
		return invalid("strategy", "must be priority, weighted or least-latency")
	}
	if len(r.Targets) == 0 {
		return invalid("targets", "must list at least one target")
	}
	for i, t := range r.Targets {
		if t.Provider == "" {
			return invalid("targets", "target %d: provider is required", i)
		}
		if t.Model == "" {
			return invalid("targets", "target %d: model is required", i)
		}
		if t.Weight < 0 {
			return invalid("targets", "target %d: weight must not be negative", i)
		}
		if r.Strategy == StrategyWeighted && t.Weight == 0 {
			return invalid("targets", "target %d: weight is required for the weighted strategy", i)
		}
	}
	return nil
}

// Billing units. A Price holds a rate for each unit it charges.
const (
	UnitPromptToken     = "prompt_token"
	UnitCompletionToken = "completion_token"
	UnitImage           = "image"
	UnitSecond          = "second"
	UnitPage            = "page"
	UnitCharacter       = "character"
)

// Price is what a model costs. Rates are integer micro-units of the currency
// per million units, so that fractions of a micro-unit per token are exact.
type Price struct {
	Model     string           `json:"model"`
	Currency  string           `json:"currency"`
	Rates     map[string]int64 `json:"rates"`
	UpdatedAt time.Time        `json:"updated_at"`
	Version   uint64           `json:"version"`
}

// Validate checks the price's own fields.
func (p *Price) Validate() error {
	if strings.TrimSpace(p.Model) == "" {
		return invalid("model", "is required")
	}
	if len(p.Currency) != 3 || strings.ToUpper(p.Currency) != p.Currency {
		return invalid("currency", "must be a three-letter ISO code such as CNY")
	}
	for unit, r := range p.Rates {
		switch unit {
		case UnitPromptToken, UnitCompletionToken, UnitImage, UnitSecond, UnitPage, UnitCharacter:
		default:
			return invalid("rates", "unknown unit %q", unit)
		}
		if r < 0 {
			return invalid(unit, "must not be negative")
		}
	}
	return nil
}
