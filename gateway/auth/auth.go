// Package auth authenticates data-plane calls by their gk_ key against the
// node's local view of the replicated state: a SHA-256 and a map lookup, no
// network, no lock.
package auth

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/apierr"
)

// Principal is an authenticated caller.
type Principal struct {
	Key    *fsm.Key
	Org    *fsm.Org
	Policy *fsm.Policy // nil when the org has none
}

// Authenticate checks an Authorization header value against state.
// ErrUnknownKey is wrapped by the error for a well-formed key this node's
// state does not hold: perhaps created a moment ago through another node.
var ErrUnknownKey = errors.New("auth: no such key")

func Authenticate(state *fsm.State, authorization string, now time.Time) (Principal, *apierr.Error) {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || !strings.HasPrefix(tok, "gk_") {
		if authorization == "" {
			return Principal{}, apierr.New(apierr.CodeInvalidAPIKey, "missing API key: send Authorization: Bearer gk_...")
		}
		return Principal{}, apierr.New(apierr.CodeInvalidAPIKey, "invalid API key")
	}
	sum := sha256.Sum256([]byte(tok))
	k, ok := state.KeyByHash(sum)
	if !ok {
		e := apierr.New(apierr.CodeInvalidAPIKey, "invalid API key")
		e.Err = ErrUnknownKey
		return Principal{}, e
	}
	switch {
	case k.RevokedAt != nil:
		return Principal{}, apierr.New(apierr.CodeInvalidAPIKey, "this API key has been revoked")
	case k.Disabled:
		return Principal{}, apierr.New(apierr.CodeInvalidAPIKey, "this API key is disabled")
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return Principal{}, apierr.New(apierr.CodeInvalidAPIKey, "this API key has expired")
	}
	org, ok := state.Orgs[k.OrgID]
	if !ok {
		return Principal{}, apierr.New(apierr.CodeInvalidAPIKey, "this API key's organization no longer exists")
	}
	return Principal{Key: k, Org: org, Policy: state.Policies[k.OrgID]}, nil
}

// AllowPath checks the key's scopes: the call is allowed when its
// capability, or a prefix of its path, is among them.
func (p Principal) AllowPath(capability, path string) *apierr.Error {
	for _, s := range p.Key.Scopes {
		if s == capability || (strings.HasPrefix(s, "/") && strings.HasPrefix(path, s)) {
			return nil
		}
	}
	return apierr.Newf(apierr.CodePermissionDenied, "this API key is not allowed to call %s (scope %q)", path, capability)
}

// AllowModel checks the key's model allow-list; an empty list allows every
// model the org may use.
func (p Principal) AllowModel(model string) *apierr.Error {
	if len(p.Key.Models) == 0 || slices.Contains(p.Key.Models, model) {
		return nil
	}
	return apierr.Newf(apierr.CodePermissionDenied, "this API key is not allowed to use model %q", model)
}

// AllowProvider reports whether the org's policy lets it use a provider.
func (p Principal) AllowProvider(slug string) bool {
	if p.Policy == nil || len(p.Policy.AllowedProviders) == 0 {
		return true
	}
	return slices.Contains(p.Policy.AllowedProviders, slug)
}
