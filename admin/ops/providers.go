package ops

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

// ProviderPatch holds the provider fields a request sets; nil keeps a
// value.
type ProviderPatch struct {
	Name    *string
	Slug    *string
	Format  *string
	BaseURL *string
	APIPath *string
	// SetAPIKey says APIKey replaces the stored key ("" removes it).
	SetAPIKey bool
	APIKey    string
	Models    *[]string
	// DisabledModels closes these of the models (the rest are open).
	DisabledModels *[]string
	Capabilities   *[]string
	Enabled        *bool
}

// overlay applies the patch to p, sealing a new key.
func (o *Ops) overlayProvider(in *ProviderPatch, p *fsm.Provider) {
	if in.Name != nil {
		p.Name = strings.TrimSpace(*in.Name)
	}
	if in.Format != nil {
		p.Format = *in.Format
	}
	if in.BaseURL != nil {
		p.BaseURL = strings.TrimRight(strings.TrimSpace(*in.BaseURL), "/")
	}
	if in.APIPath != nil {
		p.APIPath = strings.TrimSpace(*in.APIPath)
	}
	if p.APIPath == "" {
		p.APIPath = fsm.DefaultAPIPath(p.Format)
	}
	if in.SetAPIKey {
		p.APIKeyCipher = nil
		if in.APIKey != "" {
			p.APIKeyCipher = o.d.Sealer.Seal(secret.ProviderPurpose(p.Slug), []byte(in.APIKey))
		}
	}
	if in.Models != nil {
		p.Models = *in.Models
		// A model taken off the list is no longer closed either.
		p.DisabledModels = slices.DeleteFunc(slices.Clone(p.DisabledModels), func(m string) bool { return !slices.Contains(p.Models, m) })
	}
	if in.DisabledModels != nil {
		p.DisabledModels = *in.DisabledModels
	}
	if len(p.DisabledModels) == 0 {
		p.DisabledModels = nil
	}
	if in.Capabilities != nil {
		p.Capabilities = *in.Capabilities
	}
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
}

// Provider returns a provider by slug.
func (o *Ops) Provider(slug string) (*fsm.Provider, error) {
	p, ok := o.d.Viewer.View().Providers[slug]
	if !ok {
		return nil, NotFound("provider " + slug + " not found")
	}
	return p, nil
}

// CreateProvider adds a provider (super admins only). It speaks the
// OpenAI format and serves chat unless the patch says otherwise.
func (o *Ops) CreateProvider(ctx context.Context, c Caller, in Input[ProviderPatch]) (*fsm.Provider, error) {
	o.begin(ProviderCreate)
	if err := c.RequireSuper(); err != nil {
		return nil, err
	}
	req, err := in()
	if err != nil {
		return nil, err
	}
	switch {
	case req.Slug == nil || *req.Slug == "":
		return nil, Invalid("slug", "slug: is required")
	case req.Name == nil:
		return nil, Invalid("name", "name: is required")
	case req.BaseURL == nil:
		return nil, Invalid("base_url", "base_url: is required")
	}
	p := fsm.Provider{Slug: *req.Slug, Format: fsm.FormatOpenAI, Capabilities: []string{"llm"}, Enabled: true}
	o.overlayProvider(&req, &p)
	if err := p.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Provider](ctx, o, fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: p, Create: true})
	if err != nil {
		return nil, err
	}
	o.audit(c, "provider created", "provider", p.Slug)
	return res, nil
}

// UpdateProvider changes a provider (super admins only). Fields left out
// keep their values, so a form can be saved without ever showing the key.
func (o *Ops) UpdateProvider(ctx context.Context, c Caller, slug string, in Input[ProviderPatch]) (*fsm.Provider, error) {
	o.begin(ProviderUpdate)
	if err := c.RequireSuper(); err != nil {
		return nil, err
	}
	cur, err := o.Provider(slug)
	if err != nil {
		return nil, err
	}
	req, err := in()
	if err != nil {
		return nil, err
	}
	if req.Slug != nil && *req.Slug != cur.Slug {
		return nil, Invalid("slug", "slug: cannot change; create a new provider instead")
	}
	next := *cur
	o.overlayProvider(&req, &next)
	if err := next.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Provider](ctx, o, fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: next, ExpectVersion: cur.Version})
	if err != nil {
		return nil, err
	}
	o.audit(c, "provider changed", "provider", cur.Slug, "enabled", next.Enabled, "closed", next.DisabledModels,
		"key_changed", req.SetAPIKey)
	return res, nil
}

// DeleteProvider removes a provider (super admins only).
func (o *Ops) DeleteProvider(ctx context.Context, c Caller, slug string) error {
	o.begin(ProviderDelete)
	if err := c.RequireSuper(); err != nil {
		return err
	}
	cur, err := o.Provider(slug)
	if err != nil {
		return err
	}
	if _, err := proposeFor[fsm.NoResult](ctx, o, fsm.TypeProviderDelete, fsm.DeleteBody{ID: cur.Slug}); err != nil {
		return err
	}
	o.audit(c, "provider deleted", "provider", cur.Slug)
	return nil
}

// ProviderTester makes one minimal real call to a provider with the data
// plane's own adapters: a one-token chat with its first open model for a
// chat provider, else its model list. orgID, when set, is the org whose
// own key is used if it has one. It answers what the upstream said.
type ProviderTester interface {
	TestProvider(ctx context.Context, p *fsm.Provider, capability, orgID string) (string, error)
}

// testTimeout bounds a provider test.
const testTimeout = 20 * time.Second

// TestResult is the outcome of a provider test: OK and the upstream's
// answer, or what failed.
type TestResult struct {
	OK     bool
	Answer string
}

// TestProvider tests a provider for capability (super admins only). A
// failed call is a result, not an error; the error is for a refused or
// unknown test.
func (o *Ops) TestProvider(ctx context.Context, c Caller, slug, capability string) (TestResult, error) {
	o.begin(ProviderTest)
	if err := c.RequireSuper(); err != nil {
		return TestResult{}, err
	}
	pv, err := o.Provider(slug)
	if err != nil {
		return TestResult{}, err
	}
	if !slices.Contains(fsm.Capabilities, capability) {
		return TestResult{}, Invalid("capability", "capability: "+capability+" is not one of "+strings.Join(fsm.Capabilities, ", "))
	}
	if o.d.Tester == nil {
		return TestResult{}, errors.New("ops: no provider tester is wired in")
	}
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	orgID := ""
	if c.User != nil {
		orgID = c.User.OrgID
	}
	answer, err := o.d.Tester.TestProvider(ctx, pv, capability, orgID)
	o.audit(c, "provider tested", "provider", pv.Slug, "capability", capability, "ok", err == nil)
	if err != nil {
		return TestResult{Answer: err.Error()}, nil
	}
	return TestResult{OK: true, Answer: answer}, nil
}
