package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
)

// providersData is a capability page's 配置: its providers.
type providersData struct {
	Capability string
	Providers  []any
	Formats    []string
	// Test is the result of a connection test just run.
	Test *connTest
}

type connTest struct {
	Provider string
	OK       bool
	Answer   string
}

func (s *Console) providersData(capability string) providersData {
	st := s.d.Viewer.View()
	d := providersData{Capability: capability, Formats: []string{fsm.FormatOpenAI, fsm.FormatAnthropic, fsm.FormatDashScope}}
	for _, slug := range st.ProviderOrder {
		p := st.Providers[slug]
		caps := p.Capabilities
		if len(caps) == 0 {
			caps = []string{"llm"}
		}
		if slices.Contains(caps, capability) {
			d.Providers = append(d.Providers, s.d.API.ProviderView(p))
		}
	}
	return d
}

// capabilityOf reads and checks the page's capability.
func capabilityOf(r *http.Request) (string, bool) {
	c := chi.URLParam(r, "cap")
	return c, fsm.IsCapability(c)
}

// capabilityLabel is a capability's name in the console's language, from
// its row of fsm.CapabilityTable.
func capabilityLabel(lang, name string) string {
	c, _ := fsm.LookupCapability(name)
	return translate(lang, c.LabelKey)
}

// capabilityProvider reads the capability page and the provider a form
// posts to; it answers 404 and reports false when either is unknown.
func (s *Console) capabilityProvider(w http.ResponseWriter, r *http.Request) (string, *fsm.Provider, bool) {
	c, ok := capabilityOf(r)
	pv := s.d.Viewer.View().Providers[chi.URLParam(r, "slug")]
	if !ok || pv == nil {
		http.NotFound(w, r)
		return "", nil, false
	}
	return c, pv, true
}

func (s *Console) providersPage(w http.ResponseWriter, r *http.Request) {
	c, ok := capabilityOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.render(w, r, "providers", page{Active: "cap-" + c, Title: capabilityLabel(langOf(r), c), Data: s.providersData(c)})
}

func (s *Console) providersResult(w http.ResponseWriter, r *http.Request, c string, err error, test *connTest) {
	if err == nil && test == nil {
		http.Redirect(w, r, "/cap/"+c, http.StatusSeeOther)
		return
	}
	pg := page{Active: "cap-" + c, Title: capabilityLabel(langOf(r), c)}
	d := s.providersData(c)
	d.Test = test
	pg.Data = d
	if err != nil {
		w.WriteHeader(web.ToAPIError(err).Status)
		pg.Error = consoleError(langOf(r), err)
	}
	s.render(w, r, "providers", pg)
}

// providerForm reads the add and edit forms: the seed's fields.
func providerForm(r *http.Request, capability string, create bool) ops.ProviderPatch {
	f := func(k string) *string { v := strings.TrimSpace(r.PostFormValue(k)); return &v }
	req := ops.ProviderPatch{Name: f("name"), BaseURL: f("base_url"), APIPath: f("api_path"), Format: f("format")}
	var models []string
	for _, m := range strings.Split(r.PostFormValue("models"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			models = append(models, m)
		}
	}
	req.Models = &models
	enabled := r.PostFormValue("enabled") != "" || create
	req.Enabled = &enabled
	// The key is write-only: left blank it stays as stored, unless the
	// form asks to clear it.
	if k := r.PostFormValue("api_key"); k != "" || r.PostFormValue("clear_key") != "" {
		req.SetAPIKey, req.APIKey = true, k
	}
	if create {
		req.Slug = f("slug")
		req.Capabilities = &[]string{capability}
	}
	if *req.Format == "" {
		req.Format = nil
	}
	return req
}

func (s *Console) providersCreate(w http.ResponseWriter, r *http.Request) {
	c, ok := capabilityOf(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, err := s.ops.CreateProvider(r.Context(), principalFrom(r.Context()).caller(), ops.Given(providerForm(r, c, true)))
	s.providersResult(w, r, c, err, nil)
}

func (s *Console) providersUpdate(w http.ResponseWriter, r *http.Request) {
	c, cur, ok := s.capabilityProvider(w, r)
	if !ok {
		return
	}
	_, err := s.ops.UpdateProvider(r.Context(), principalFrom(r.Context()).caller(), cur.Slug, ops.Given(providerForm(r, c, false)))
	s.providersResult(w, r, c, err, nil)
}

// providersModels opens the models ticked in the form and closes the
// rest of the provider's list.
func (s *Console) providersModels(w http.ResponseWriter, r *http.Request) {
	c, cur, ok := s.capabilityProvider(w, r)
	if !ok {
		return
	}
	_, err := s.ops.UpdateProvider(r.Context(), principalFrom(r.Context()).caller(), cur.Slug, func() (ops.ProviderPatch, error) {
		if err := r.ParseForm(); err != nil {
			return ops.ProviderPatch{}, web.BadRequest("", "the form does not parse")
		}
		closed := []string{}
		for _, m := range cur.Models {
			if !slices.Contains(r.PostForm["open"], m) {
				closed = append(closed, m)
			}
		}
		return ops.ProviderPatch{DisabledModels: &closed}, nil
	})
	s.providersResult(w, r, c, err, nil)
}

// providersOwnKey switches the caller's org to its own key for a provider
// (切换到自有密钥), or back to the system's with an empty key.
func (s *Console) providersOwnKey(w http.ResponseWriter, r *http.Request) {
	c, pv, ok := s.capabilityProvider(w, r)
	if !ok {
		return
	}
	p := principalFrom(r.Context())
	var err error
	if org := p.user.OrgID; org == "" {
		// The form acts on the caller's own org; a super admin has none.
		err = web.BadRequest("org_id", "an org's own key is set by that org's admin")
	} else {
		key := strings.TrimSpace(r.PostFormValue("own_key"))
		_, err = s.ops.UpdatePolicy(r.Context(), p.caller(), org, ops.Given(ops.PolicyPatch{OwnKeys: map[string]*string{pv.Slug: &key}}))
	}
	s.providersResult(w, r, c, err, nil)
}

// providersTest makes a real minimal call to a provider through the data
// plane's adapters and shows the answer or the error.
func (s *Console) providersTest(w http.ResponseWriter, r *http.Request) {
	c, pv, ok := s.capabilityProvider(w, r)
	if !ok {
		return
	}
	res, err := s.ops.TestProvider(r.Context(), principalFrom(r.Context()).caller(), pv.Slug, c)
	if err != nil {
		s.providersResult(w, r, c, err, nil)
		return
	}
	s.providersResult(w, r, c, nil, &connTest{Provider: pv.Slug, OK: res.OK, Answer: res.Answer})
}
