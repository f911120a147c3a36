package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/fsm"
)

type limitsJSON struct {
	RPM          int64  `json:"rpm"`
	TPM          int64  `json:"tpm"`
	Concurrency  int64  `json:"concurrency"`
	Budget       string `json:"budget"` // decimal currency; "0" means unlimited
	BudgetPeriod string `json:"budget_period"`
}

func toLimitsJSON(l fsm.Limits) limitsJSON {
	period := l.BudgetPeriod
	if period == "" {
		period = fsm.PeriodMonthly
	}
	return limitsJSON{RPM: l.RPM, TPM: l.TPM, Concurrency: l.Concurrency, Budget: fsm.FormatDecimal(l.Budget, 6), BudgetPeriod: period}
}

type keyJSON struct {
	ID        string     `json:"id"`
	Key       string     `json:"key,omitempty"` // only in the create response
	OrgID     string     `json:"org_id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Scopes    []string   `json:"scopes"`
	Models    []string   `json:"models"`
	Limits    limitsJSON `json:"limits"`
	ExpiresAt *time.Time `json:"expires_at"`
	Disabled  bool       `json:"disabled"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Status    string     `json:"status"` // active, disabled, expired or revoked
	// LastUsedAt is the key's latest request the cluster has counted
	// (seconds after it was answered); null if never used.
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Version    uint64     `json:"version"`
}

// keyStatus is active, disabled, expired or revoked.
func keyStatus(k *fsm.Key, now time.Time) string {
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

func toKeyJSON(st *fsm.State, k *fsm.Key, now time.Time) keyJSON {
	var lastUsed *time.Time
	if t := st.LastUsed(k.ID); !t.IsZero() {
		lastUsed = &t
	}
	models := k.Models
	if models == nil {
		models = []string{}
	}
	return keyJSON{
		ID: k.ID, OrgID: k.OrgID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Models: models,
		Limits: toLimitsJSON(k.Limits), ExpiresAt: k.ExpiresAt, Disabled: k.Disabled, RevokedAt: k.RevokedAt,
		Status: keyStatus(k, now), LastUsedAt: lastUsed, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, Version: k.Version,
	}
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	orgFilter := r.URL.Query().Get("org_id")
	now := s.d.Now()
	out := []keyJSON{}
	st := s.d.Viewer.View()
	for _, k := range st.AllKeys() {
		if !p.canRead(k.OrgID) || (orgFilter != "" && k.OrgID != orgFilter) {
			continue
		}
		out = append(out, toKeyJSON(st, k, now))
	}
	slices.SortFunc(out, func(a, b keyJSON) int { return a.CreatedAt.Compare(b.CreatedAt) })
	writeJSON(w, http.StatusOK, list[keyJSON]{Data: out})
	return nil
}

func (s *Server) lookupKey(r *http.Request) (*fsm.Key, error) {
	id := chi.URLParam(r, "id")
	k := s.d.Viewer.View().Key(id)
	if k == nil || !principalFrom(r.Context()).canRead(k.OrgID) {
		return nil, notFoundErr("key " + id + " not found")
	}
	return k, nil
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.lookupKey(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toKeyJSON(s.d.Viewer.View(), k, s.d.Now()))
	return nil
}

type limitsRequest struct {
	RPM          *int64  `json:"rpm"`
	TPM          *int64  `json:"tpm"`
	Concurrency  *int64  `json:"concurrency"`
	Budget       *money  `json:"budget"`
	BudgetPeriod *string `json:"budget_period"`
}

// applyTo overlays the fields present in the request on l.
func (lr *limitsRequest) applyTo(l *fsm.Limits) {
	if lr == nil {
		return
	}
	if lr.RPM != nil {
		l.RPM = *lr.RPM
	}
	if lr.TPM != nil {
		l.TPM = *lr.TPM
	}
	if lr.Concurrency != nil {
		l.Concurrency = *lr.Concurrency
	}
	if lr.Budget != nil {
		l.Budget = lr.Budget.micros
	}
	if lr.BudgetPeriod != nil {
		l.BudgetPeriod = *lr.BudgetPeriod
	}
}

type keyRequest struct {
	OrgID     *string        `json:"org_id"`
	Name      *string        `json:"name"`
	Scopes    *[]string      `json:"scopes"`
	Models    *stringList    `json:"models"`
	Limits    *limitsRequest `json:"limits"`
	ExpiresAt optTime        `json:"expires_at"`
	Disabled  *bool          `json:"disabled"`
}

// overlay applies the request's fields to k.
func (kr *keyRequest) overlay(k *fsm.Key) {
	if kr.Name != nil {
		k.Name = strings.TrimSpace(*kr.Name)
	}
	if kr.Scopes != nil {
		k.Scopes = *kr.Scopes
	}
	if kr.Models != nil {
		k.Models = *kr.Models
	}
	kr.Limits.applyTo(&k.Limits)
	if kr.ExpiresAt.present {
		k.ExpiresAt = kr.ExpiresAt.t
	}
	if kr.Disabled != nil {
		k.Disabled = *kr.Disabled
	}
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var req keyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	k, secret, err := s.newKey(r.Context(), principalFrom(r.Context()), req)
	if err != nil {
		return err
	}
	out := toKeyJSON(s.d.Viewer.View(), k, s.d.Now())
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// newKey creates a key for p (the API and the console): it returns the
// stored key and its secret, which is never shown again.
func (s *Server) newKey(ctx context.Context, p principal, req keyRequest) (*fsm.Key, string, error) {
	orgID := p.user.OrgID
	if req.OrgID != nil {
		orgID = *req.OrgID
	}
	if orgID == "" {
		// With a single org, as on a fresh install, it is the obvious one.
		if orgs := s.d.Viewer.View().Orgs; len(orgs) == 1 {
			for id := range orgs {
				orgID = id
			}
		} else {
			return nil, "", badRequest("org_id", "org_id: is required when there is more than one org")
		}
	}
	if _, ok := s.d.Viewer.View().Orgs[orgID]; !ok || !p.canRead(orgID) {
		return nil, "", badRequest("org_id", "org_id: org "+orgID+" not found")
	}
	if !p.canManage(orgID) {
		return nil, "", forbidden("you may not create keys in this org")
	}
	if req.Name == nil {
		return nil, "", badRequest("name", "name: is required")
	}
	secret, prefix, hash := newAPIKey()
	k := fsm.Key{
		ID: newID("key"), OrgID: orgID, Prefix: prefix, Hash: hash,
		Scopes: slices.Clone(fsm.Capabilities), CreatedBy: p.user.ID,
	}
	req.overlay(&k)
	if k.ExpiresAt != nil && !k.ExpiresAt.After(s.d.Now()) {
		return nil, "", badRequest("expires_at", "expires_at: must be in the future")
	}
	if err := k.Validate(); err != nil {
		return nil, "", err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(ctx, fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: k, Create: true})
	if err != nil {
		return nil, "", err
	}
	s.log.Info("key created", "key_id", k.ID, "org_id", orgID, "user_id", p.user.ID)
	return res.(*fsm.Key), secret, nil
}

func (s *Server) patchKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.lookupKey(r)
	if err != nil {
		return err
	}
	if !principalFrom(r.Context()).canManage(k.OrgID) {
		return forbidden("you may not change keys in this org")
	}
	var req keyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.OrgID != nil && *req.OrgID != k.OrgID {
		return badRequest("org_id", "org_id: a key cannot move to another org")
	}
	next := *k
	req.overlay(&next)
	if err := next.Validate(); err != nil {
		return err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(r.Context(), fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: next, ExpectVersion: k.Version})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toKeyJSON(s.d.Viewer.View(), res.(*fsm.Key), s.d.Now()))
	return nil
}

// revokeKey revokes a key for good; the record stays for audit.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.lookupKey(r)
	if err != nil {
		return err
	}
	if !principalFrom(r.Context()).canManage(k.OrgID) {
		return forbidden("you may not revoke keys in this org")
	}
	if _, err := s.propose(r.Context(), fsm.TypeKeyDelete, fsm.DeleteBody{ID: k.ID}); err != nil {
		return err
	}
	s.log.Info("key revoked", "key_id", k.ID, "org_id", k.OrgID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
