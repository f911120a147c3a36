package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/fsm"
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

// forCaller leaves out where a provider is for a caller who is not a super
// admin: base URLs may be internal addresses, the operators' business.
func forCaller(r *http.Request, p providerJSON) providerJSON {
	if !principalFrom(r.Context()).super() {
		p.BaseURL, p.APIPath = "", ""
	}
	return p
}

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	out := []providerJSON{}
	for _, p := range s.d.Viewer.View().ProvidersInOrder() {
		out = append(out, forCaller(r, s.toProviderJSON(p)))
	}
	writeJSON(w, http.StatusOK, list[providerJSON]{Data: out})
	return nil
}

func (s *Server) getProvider(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ops.Provider(chi.URLParam(r, "slug"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, forCaller(r, s.toProviderJSON(p)))
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

// patch is the request as the operations take it.
func (req providerRequest) patch() ops.ProviderPatch {
	p := ops.ProviderPatch{Name: req.Name, Slug: req.Slug, Format: req.Format, BaseURL: req.BaseURL, APIPath: req.APIPath,
		Capabilities: req.Capabilities, Enabled: req.Enabled, SetAPIKey: req.APIKey.present}
	if req.APIKey.present {
		p.APIKey = *req.APIKey.value
	}
	if req.Models != nil {
		m := []string(*req.Models)
		p.Models = &m
	}
	if req.DisabledModels != nil {
		m := []string(*req.DisabledModels)
		p.DisabledModels = &m
	}
	return p
}

// readProvider reads the body once the operation asks for it.
func readProvider(w http.ResponseWriter, r *http.Request) ops.Input[ops.ProviderPatch] {
	return func() (ops.ProviderPatch, error) {
		var req providerRequest
		err := decodeJSON(w, r, &req)
		return req.patch(), err
	}
}

func (s *Server) createProvider(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ops.CreateProvider(r.Context(), principalFrom(r.Context()).caller(), readProvider(w, r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.toProviderJSON(p))
	return nil
}

// putProvider updates a provider. Fields left out keep their values, and
// api_key follows secretField's rules, so the console can save a form
// without ever having seen the key.
func (s *Server) putProvider(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ops.UpdateProvider(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "slug"), readProvider(w, r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toProviderJSON(p))
	return nil
}

func (s *Server) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	if err := s.ops.DeleteProvider(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "slug")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type providerTestJSON struct {
	OK     bool   `json:"ok"`
	Answer string `json:"answer"`
}

// testProviderAPI makes a minimal real call to a provider, as the
// console's connection test does: ?capability= picks what to try (llm by
// default). A failed call is a 200 with ok false and what failed.
func (s *Server) testProviderAPI(w http.ResponseWriter, r *http.Request) error {
	capability := r.URL.Query().Get("capability")
	if capability == "" {
		capability = "llm"
	}
	res, err := s.ops.TestProvider(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "slug"), capability)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, providerTestJSON{OK: res.OK, Answer: res.Answer})
	return nil
}
