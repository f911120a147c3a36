package admin

import (
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
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
func keyStatus(k *fsm.Key, now time.Time) string { return web.KeyStatus(k, now) }

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

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.ops.Key(principalFrom(r.Context()).caller(), chi.URLParam(r, "id"))
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

// patch is the request as the operations take it.
func (lr *limitsRequest) patch() *ops.LimitsPatch {
	if lr == nil {
		return nil
	}
	lp := &ops.LimitsPatch{RPM: lr.RPM, TPM: lr.TPM, Concurrency: lr.Concurrency, BudgetPeriod: lr.BudgetPeriod}
	if lr.Budget != nil {
		lp.Budget = &lr.Budget.micros
	}
	return lp
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

// patch is the request as the operations take it.
func (kr *keyRequest) patch() ops.KeyPatch {
	p := ops.KeyPatch{OrgID: kr.OrgID, Name: kr.Name, Scopes: kr.Scopes, Limits: kr.Limits.patch(),
		SetExpiresAt: kr.ExpiresAt.present, ExpiresAt: kr.ExpiresAt.t, Disabled: kr.Disabled}
	if kr.Models != nil {
		m := []string(*kr.Models)
		p.Models = &m
	}
	return p
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var req keyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	k, secret, err := s.ops.CreateKey(r.Context(), principalFrom(r.Context()).caller(), req.patch())
	if err != nil {
		return err
	}
	out := toKeyJSON(s.d.Viewer.View(), k, s.d.Now())
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) patchKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.ops.UpdateKey(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id"), func() (ops.KeyPatch, error) {
		var req keyRequest
		err := decodeJSON(w, r, &req)
		return req.patch(), err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toKeyJSON(s.d.Viewer.View(), k, s.d.Now()))
	return nil
}

// revokeKey revokes a key for good; the record stays for audit.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.ops.RevokeKey(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
