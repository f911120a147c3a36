package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
	"github.com/tensorgate/tensorgate/gateway/auth"
	"github.com/tensorgate/tensorgate/gateway/provider"
	"github.com/tensorgate/tensorgate/gateway/quota"
)

// DefaultMaxTokens is the completion reserved against TPM limits and
// budgets when a request names no max_tokens.
const DefaultMaxTokens = 1024

// Limiter admits requests against the cluster-wide limits; the node's
// quota manager fills it in.
type Limiter interface {
	Admit(ctx context.Context, r quota.Request) (quota.Ticket, error)
	// AdmitSlot takes a slot of an org's allocation on a provider.
	AdmitSlot(ctx context.Context, orgID, provider string, pol *fsm.Policy) (quota.Ticket, error)
}

// reserve admits a request against its key's and org's limits, reserving
// the units its decoder estimated (tokens against TPM) and what they cost
// of its budgets; the ticket is settled with the real usage when the
// request ends. Every capability takes this one step.
func (s *Server) reserve(ctx context.Context, p auth.Principal, state *fsm.State, model string, est provider.Usage) (quota.Ticket, error) {
	if s.limiter == nil {
		return quota.Ticket{}, nil
	}
	cost, _ := price(state, model, model, est)
	t, err := s.limiter.Admit(ctx, quota.Request{Key: p.Key, Policy: p.Policy, Tokens: est.PromptTokens + est.CompletionTokens, Cost: cost})
	if err != nil {
		return quota.Ticket{}, limitError(err)
	}
	return t, nil
}

// limitError maps a refusal to the contract's errors.
func limitError(err error) error {
	var qe *quota.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &qe):
		code, what := apierr.CodeRateLimitExceeded, qe.Kind
		if qe.Kind == fsm.KindBudget {
			code, what = apierr.CodeInsufficientQuota, "budget"
		}
		e := apierr.Newf(code, "this %s's %s limit is reached; retry later", qe.Scope, what)
		// A rate limit frees up at Retry-After; a budget only when its
		// period ends, which clients are told only when that is soon.
		e.RetryAfter = qe.RetryAfter
		e.NoRetry = code == apierr.CodeInsufficientQuota && qe.RetryAfter <= 0
		return e
	case errors.Is(err, quota.ErrUnavailable):
		e := apierr.New(apierr.CodeServiceUnavailable, "this gateway node cannot reach its cluster to check your limits; retry on another node or later")
		e.RetryAfter = 5 * time.Second
		return e
	}
	return err // the client went away while waiting
}
