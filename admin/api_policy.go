package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/fsm"
)

// policyJSON is an org policy as the API shows it: own keys and the webhook
// secret appear only as "is set".
type policyJSON struct {
	OrgID            string                    `json:"org_id"`
	Strategy         string                    `json:"strategy"`
	AllowedProviders []string                  `json:"allowed_providers"`
	OwnKeys          []string                  `json:"own_keys"` // provider slugs with an org key
	Allocation       map[string]fsm.Allocation `json:"allocation"`
	Overflow         fsm.Overflow              `json:"overflow"`
	Breaker          fsm.Breaker               `json:"breaker"`
	Alerts           alertsJSON                `json:"alerts"`
	Limits           limitsJSON                `json:"limits"`
	Partition        string                    `json:"partition"`
	FailOpenSeconds  int                       `json:"fail_open_seconds"`
	UpdatedAt        *time.Time                `json:"updated_at"`
	Version          uint64                    `json:"version"`
}

type alertsJSON struct {
	WebhookURL       string `json:"webhook_url"`
	HasSecret        bool   `json:"has_secret"`
	BudgetThresholds []int  `json:"budget_thresholds"`
}

func toPolicyJSON(p *fsm.Policy) policyJSON {
	out := policyJSON{
		OrgID: p.OrgID, Strategy: p.Strategy, AllowedProviders: p.AllowedProviders, OwnKeys: []string{},
		Allocation: p.Allocation, Overflow: p.Overflow, Breaker: p.Breaker,
		Alerts: alertsJSON{WebhookURL: p.Alerts.WebhookURL, HasSecret: len(p.Alerts.SecretCipher) > 0, BudgetThresholds: p.Alerts.BudgetThresholds},
		Limits: toLimitsJSON(p.Limits), Partition: p.Partition, FailOpenSeconds: p.FailOpenSeconds, Version: p.Version,
	}
	for slug := range p.OwnKeys {
		out.OwnKeys = append(out.OwnKeys, slug)
	}
	slices.Sort(out.OwnKeys)
	if out.AllowedProviders == nil {
		out.AllowedProviders = []string{}
	}
	if out.Allocation == nil {
		out.Allocation = map[string]fsm.Allocation{}
	}
	if out.Overflow.Mode == "" {
		out.Overflow.Mode = fsm.OverflowRefuse
	}
	if out.Alerts.BudgetThresholds == nil {
		out.Alerts.BudgetThresholds = []int{80, 100}
	}
	if out.Partition == "" {
		out.Partition = fsm.PartitionFailClosed
	}
	if !p.UpdatedAt.IsZero() {
		t := p.UpdatedAt
		out.UpdatedAt = &t
	}
	return out
}

func (s *Server) currentPolicy(orgID string) *fsm.Policy { return s.ops.Policy(orgID) }

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	o, err := s.lookupOrg(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicyJSON(s.currentPolicy(o.ID)))
	return nil
}

type alertsRequest struct {
	WebhookURL       *string     `json:"webhook_url"`
	Secret           secretField `json:"secret"`
	BudgetThresholds *[]int      `json:"budget_thresholds"`
}

// policyRequest overlays the fields present on the current policy. own_keys
// maps provider slugs to the org's key: a string sets it, null removes it,
// and providers not named keep theirs.
type policyRequest struct {
	Strategy         *string                    `json:"strategy"`
	AllowedProviders *[]string                  `json:"allowed_providers"`
	OwnKeys          map[string]*string         `json:"own_keys"`
	Allocation       *map[string]fsm.Allocation `json:"allocation"`
	Overflow         *fsm.Overflow              `json:"overflow"`
	Breaker          *fsm.Breaker               `json:"breaker"`
	Alerts           *alertsRequest             `json:"alerts"`
	Limits           *limitsRequest             `json:"limits"`
	Partition        *string                    `json:"partition"`
	FailOpenSeconds  *int                       `json:"fail_open_seconds"`
	Version          *uint64                    `json:"version"`
}

// patch is the request as the operations take it.
func (req *policyRequest) patch() ops.PolicyPatch {
	return ops.PolicyPatch{Strategy: req.Strategy, AllowedProviders: req.AllowedProviders, OwnKeys: req.OwnKeys,
		Allocation: req.Allocation, Overflow: req.Overflow, Breaker: req.Breaker, Alerts: req.Alerts.patch(),
		Limits: req.Limits.patch(), Partition: req.Partition, FailOpenSeconds: req.FailOpenSeconds, Version: req.Version}
}

func (a *alertsRequest) patch() *ops.AlertsPatch {
	if a == nil {
		return nil
	}
	p := &ops.AlertsPatch{WebhookURL: a.WebhookURL, BudgetThresholds: a.BudgetThresholds, SetSecret: a.Secret.present}
	if a.Secret.present {
		p.Secret = *a.Secret.value
	}
	return p
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ops.UpdatePolicy(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id"), func() (ops.PolicyPatch, error) {
		var req policyRequest
		err := decodeJSON(w, r, &req)
		return req.patch(), err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPolicyJSON(p))
	return nil
}

var _ json.Unmarshaler = (*secretField)(nil)
