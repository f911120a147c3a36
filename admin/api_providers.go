package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/secret"
)

type providerJSON struct {
	Slug    string   `json:"slug"`
	Name    string   `json:"name"`
	Format  string   `json:"format"`
	BaseURL string   `json:"base_url"`
	APIPath string   `json:"api_path"`
	Models  []string `json:"models"`
	// DisabledModels are the listed models that are closed.
	DisabledModels []string `json:"disabled_models"`
	Capabilities   []string `json:"capabilities"`
	Enabled        bool     `json:"enabled"`
	// HasAPIKey says whether calls to this provider carry a key; the key
	// itself is never returned.
	HasAPIKey bool `json:"has_api_key"`
	// APIKeySource is "stored", "env:VARIABLE" or "none".
	APIKeySource string    `json:"api_key_source"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      uint64    `json:"version"`
}

func (s *Server) toProviderJSON(p *fsm.Provider) providerJSON {
	out := providerJSON{
		Slug: p.Slug, Name: p.Name, Format: p.Format, BaseURL: p.BaseURL, APIPath: p.APIPath,
		Models: p.Models, DisabledModels: p.DisabledModels, Capabilities: p.Capabilities, Enabled: p.Enabled, APIKeySource: "none",
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Version: p.Version,
	}
	if out.Models == nil {
		out.Models = []string{}
	}
	if out.DisabledModels == nil {
		out.DisabledModels = []string{}
	}
	switch {
	case len(p.APIKeyCipher) > 0:
		out.HasAPIKey, out.APIKeySource = true, "stored"
	case p.KeyEnv != "" && s.cfg.SystemKeys[p.KeyEnv] != "":
		out.HasAPIKey, out.APIKeySource = true, "env:"+p.KeyEnv
	}
	return out
}

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	out := []providerJSON{}
	for _, p := range s.d.Viewer.View().ProvidersInOrder() {
		out = append(out, s.toProviderJSON(p))
	}
	writeJSON(w, http.StatusOK, list[providerJSON]{Data: out})
	return nil
}

func (s *Server) lookupProvider(r *http.Request) (*fsm.Provider, error) {
	slug := chi.URLParam(r, "slug")
	p, ok := s.d.Viewer.View().Providers[slug]
	if !ok {
		return nil, notFoundErr("provider " + slug + " not found")
	}
	return p, nil
}

func (s *Server) getProvider(w http.ResponseWriter, r *http.Request) error {
	p, err := s.lookupProvider(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toProviderJSON(p))
	return nil
}

// secretField is a write-only secret in a request: absent or null keeps the
// stored value, "" removes it, anything else replaces it.
type secretField struct {
	present bool
	value   *string
}

func (f *secretField) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &fieldError{"api_key", "must be a string"}
	}
	s = strings.TrimSpace(s)
	*f = secretField{present: true, value: &s}
	return nil
}

type providerRequest struct {
	Name    *string     `json:"name"`
	Slug    *string     `json:"slug"`
	Format  *string     `json:"format"`
	BaseURL *string     `json:"base_url"`
	APIPath *string     `json:"api_path"`
	APIKey  secretField `json:"api_key"`
	Models  *stringList `json:"models"`
	// DisabledModels closes these of the models (the rest are open).
	DisabledModels *stringList `json:"disabled_models"`
	Capabilities   *[]string   `json:"capabilities"`
	Enabled        *bool       `json:"enabled"`
}

// overlay applies the request's fields to p, sealing a new key.
func (s *Server) overlayProvider(req *providerRequest, p *fsm.Provider) {
	if req.Name != nil {
		p.Name = strings.TrimSpace(*req.Name)
	}
	if req.Format != nil {
		p.Format = *req.Format
	}
	if req.BaseURL != nil {
		p.BaseURL = strings.TrimRight(strings.TrimSpace(*req.BaseURL), "/")
	}
	if req.APIPath != nil {
		p.APIPath = strings.TrimSpace(*req.APIPath)
	}
	if p.APIPath == "" {
		p.APIPath = fsm.DefaultAPIPath(p.Format)
	}
	if req.APIKey.present {
		p.APIKeyCipher = nil
		if *req.APIKey.value != "" {
			p.APIKeyCipher = s.d.Keyring.Seal(secret.ProviderPurpose(p.Slug), []byte(*req.APIKey.value))
		}
	}
	if req.Models != nil {
		p.Models = *req.Models
		// A model taken off the list is no longer closed either.
		p.DisabledModels = slices.DeleteFunc(slices.Clone(p.DisabledModels), func(m string) bool { return !slices.Contains(p.Models, m) })
	}
	if req.DisabledModels != nil {
		p.DisabledModels = *req.DisabledModels
	}
	if len(p.DisabledModels) == 0 {
		p.DisabledModels = nil
	}
	if req.Capabilities != nil {
		p.Capabilities = *req.Capabilities
	}
	if req.Enabled != nil {
		p.Enabled = *req.Enabled
	}
}

func (s *Server) createProvider(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	var req providerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Slug == nil || *req.Slug == "" {
		return badRequest("slug", "slug: is required")
	}
	if req.Name == nil {
		return badRequest("name", "name: is required")
	}
	if req.BaseURL == nil {
		return badRequest("base_url", "base_url: is required")
	}
	p := fsm.Provider{Slug: *req.Slug, Format: fsm.FormatOpenAI, Capabilities: []string{"llm"}, Enabled: true}
	s.overlayProvider(&req, &p)
	if err := p.Validate(); err != nil {
		return err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(r.Context(), fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: p, Create: true})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.toProviderJSON(res.(*fsm.Provider)))
	return nil
}

// putProvider updates a provider. Fields left out keep their values, and
// api_key follows secretField's rules, so the console can save a form
// without ever having seen the key.
func (s *Server) putProvider(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	p, err := s.lookupProvider(r)
	if err != nil {
		return err
	}
	var req providerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Slug != nil && *req.Slug != p.Slug {
		return badRequest("slug", "slug: cannot change; create a new provider instead")
	}
	next := *p
	s.overlayProvider(&req, &next)
	if err := next.Validate(); err != nil {
		return err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(r.Context(), fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: next, ExpectVersion: p.Version})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toProviderJSON(res.(*fsm.Provider)))
	return nil
}

func (s *Server) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	p, err := s.lookupProvider(r)
	if err != nil {
		return err
	}
	if _, err := s.propose(r.Context(), fsm.TypeProviderDelete, fsm.DeleteBody{ID: p.Slug}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
