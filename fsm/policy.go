package fsm

import (
	"net/url"
	"slices"
	"time"
)

// Partition behaviours of an org when its node is cut off from the quorum.
const (
	PartitionFailClosed = "fail_closed"
	PartitionFailOpen   = "fail_open"
)

// Overflow modes.
const (
	OverflowRefuse = "refuse"
	OverflowSpill  = "spill"
)

// Policy is an org's routing, allocation, limit and alert settings. The
// zero value means "system defaults everywhere".
type Policy struct {
	OrgID string `json:"org_id"`
	// Strategy overrides the routes' strategy for this org's calls.
	Strategy string `json:"strategy,omitempty"`
	// Providers the org may use; empty means every enabled provider.
	AllowedProviders []string `json:"allowed_providers,omitempty"`
	// OwnKeys are the org's own upstream keys per provider slug, sealed
	// like provider keys. A provider listed here is called with the org's
	// key instead of the system's.
	OwnKeys map[string][]byte `json:"own_keys,omitempty"`
	// Allocation caps the org's use of a provider.
	Allocation map[string]Allocation `json:"allocation,omitempty"`
	Overflow   Overflow              `json:"overflow"`
	Breaker    Breaker               `json:"breaker"`
	Alerts     Alerts                `json:"alerts"`
	Limits     Limits                `json:"limits"`
	// Partition is fail_closed (default) or fail_open.
	Partition string `json:"partition,omitempty"`
	// FailOpenSeconds bounds how long fail_open admits without the quorum.
	FailOpenSeconds int       `json:"fail_open_seconds,omitempty"`
	UpdatedAt       time.Time `json:"updated_at"`
	Version         uint64    `json:"version"`
}

// Allocation caps an org's share of a provider.
type Allocation struct {
	SharePercent int `json:"share_percent,omitempty"` // 0 means no cap
	Concurrency  int `json:"concurrency,omitempty"`   // 0 means no cap
}

// Overflow says what happens when the org's primary pool is full or failing.
type Overflow struct {
	Mode string `json:"mode,omitempty"` // refuse (default) or spill
	Pool string `json:"pool,omitempty"` // provider slug to spill to
}

// Breaker overrides the circuit breaker settings for the org's calls.
type Breaker struct {
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	ErrorRatePercent    int `json:"error_rate_percent,omitempty"`
	WindowSeconds       int `json:"window_seconds,omitempty"`
	CooldownSeconds     int `json:"cooldown_seconds,omitempty"`
	HalfOpenProbes      int `json:"half_open_probes,omitempty"`
}

// Alerts configures the org's webhook.
type Alerts struct {
	WebhookURL string `json:"webhook_url,omitempty"`
	// SecretCipher is the HMAC signing secret, sealed.
	SecretCipher     []byte `json:"secret_cipher,omitempty"`
	BudgetThresholds []int  `json:"budget_thresholds,omitempty"` // percents
}

// Validate checks the policy's own fields.
func (p *Policy) Validate() error {
	if p.OrgID == "" {
		return invalid("org_id", "is required")
	}
	switch p.Strategy {
	case "", StrategyPriority, StrategyWeighted, StrategyLeastLatency:
	default:
		return invalid("strategy", "must be priority, weighted or least-latency")
	}
	for slug, a := range p.Allocation {
		if a.SharePercent < 0 || a.SharePercent > 100 {
			return invalid("allocation", "%s: share_percent must be 0 to 100", slug)
		}
		if a.Concurrency < 0 {
			return invalid("allocation", "%s: concurrency must not be negative", slug)
		}
	}
	switch p.Overflow.Mode {
	case "", OverflowRefuse:
	case OverflowSpill:
		if p.Overflow.Pool == "" {
			return invalid("overflow.pool", "is required when mode is spill")
		}
	default:
		return invalid("overflow.mode", "must be refuse or spill")
	}
	b := p.Breaker
	if b.ConsecutiveFailures < 0 || b.WindowSeconds < 0 || b.CooldownSeconds < 0 || b.HalfOpenProbes < 0 {
		return invalid("breaker", "values must not be negative")
	}
	if b.ErrorRatePercent < 0 || b.ErrorRatePercent > 100 {
		return invalid("breaker.error_rate_percent", "must be 0 to 100")
	}
	if p.Alerts.WebhookURL != "" {
		u, err := url.Parse(p.Alerts.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("alerts.webhook_url", "must be an http or https URL")
		}
	}
	for _, t := range p.Alerts.BudgetThresholds {
		if t <= 0 || t > 100 {
			return invalid("alerts.budget_thresholds", "must be percents from 1 to 100")
		}
	}
	if err := p.Limits.Validate(); err != nil {
		return err
	}
	switch p.Partition {
	case "", PartitionFailClosed, PartitionFailOpen:
	default:
		return invalid("partition", "must be fail_closed or fail_open")
	}
	if p.FailOpenSeconds < 0 || p.FailOpenSeconds > 3600 {
		return invalid("fail_open_seconds", "must be 0 to 3600")
	}
	return nil
}

// providerRefs lists every provider slug the policy names.
func (p *Policy) providerRefs() []string {
	refs := slices.Clone(p.AllowedProviders)
	for s := range p.OwnKeys {
		refs = append(refs, s)
	}
	for s := range p.Allocation {
		refs = append(refs, s)
	}
	if p.Overflow.Pool != "" {
		refs = append(refs, p.Overflow.Pool)
	}
	slices.Sort(refs)
	return slices.Compact(refs)
}
