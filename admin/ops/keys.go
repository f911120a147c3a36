package ops

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// LimitsPatch holds the limit fields a request sets; nil keeps a value.
type LimitsPatch struct {
	RPM, TPM, Concurrency *int64
	// Budget is in micro-units of the currency.
	Budget       *int64
	BudgetPeriod *string
}

// ApplyTo overlays the fields the patch sets on l.
func (lp *LimitsPatch) ApplyTo(l *fsm.Limits) {
	if lp == nil {
		return
	}
	if lp.RPM != nil {
		l.RPM = *lp.RPM
	}
	if lp.TPM != nil {
		l.TPM = *lp.TPM
	}
	if lp.Concurrency != nil {
		l.Concurrency = *lp.Concurrency
	}
	if lp.Budget != nil {
		l.Budget = *lp.Budget
	}
	if lp.BudgetPeriod != nil {
		l.BudgetPeriod = *lp.BudgetPeriod
	}
}

// KeyPatch holds the key fields a request sets; nil keeps a value.
type KeyPatch struct {
	OrgID  *string
	Name   *string
	Scopes *[]string
	Models *[]string
	Limits *LimitsPatch
	// SetExpiresAt says ExpiresAt is set (nil: never expires).
	SetExpiresAt bool
	ExpiresAt    *time.Time
	Disabled     *bool
}

func (kp *KeyPatch) overlay(k *fsm.Key) {
	if kp.Name != nil {
		k.Name = strings.TrimSpace(*kp.Name)
	}
	if kp.Scopes != nil {
		k.Scopes = *kp.Scopes
	}
	if kp.Models != nil {
		k.Models = *kp.Models
	}
	kp.Limits.ApplyTo(&k.Limits)
	if kp.SetExpiresAt {
		k.ExpiresAt = kp.ExpiresAt
	}
	if kp.Disabled != nil {
		k.Disabled = *kp.Disabled
	}
}

// Key returns a key the caller may read.
func (o *Ops) Key(c Caller, id string) (*fsm.Key, error) {
	k := o.d.Viewer.View().Key(id)
	if k == nil || !c.CanRead(k.OrgID) {
		return nil, NotFound("key " + id + " not found")
	}
	return k, nil
}

// CreateKey creates a key and returns it with its secret, which is never
// shown again. Without an org the caller's own is used, or the only one.
func (o *Ops) CreateKey(ctx context.Context, c Caller, in KeyPatch) (*fsm.Key, string, error) {
	o.begin(KeyCreate)
	st := o.d.Viewer.View()
	orgID := ""
	if c.User != nil {
		orgID = c.User.OrgID
	}
	if in.OrgID != nil {
		orgID = *in.OrgID
	}
	if orgID == "" {
		// With a single org, as on a fresh install, it is the obvious one.
		if len(st.Orgs) != 1 {
			return nil, "", Invalid("org_id", "org_id: is required when there is more than one org")
		}
		for id := range st.Orgs {
			orgID = id
		}
	}
	if _, ok := st.Orgs[orgID]; !ok || !c.CanRead(orgID) {
		return nil, "", Invalid("org_id", "org_id: org "+orgID+" not found")
	}
	if !c.CanManage(orgID) {
		return nil, "", Forbidden("you may not create keys in this org")
	}
	if in.Name == nil {
		return nil, "", Invalid("name", "name: is required")
	}
	secret, prefix, hash := newAPIKey()
	k := fsm.Key{
		ID: NewID("key"), OrgID: orgID, Prefix: prefix, Hash: hash,
		Scopes: slices.Clone(fsm.Capabilities), CreatedBy: c.userID(),
	}
	in.overlay(&k)
	if k.ExpiresAt != nil && !k.ExpiresAt.After(o.d.Now()) {
		return nil, "", Invalid("expires_at", "expires_at: must be in the future")
	}
	if err := k.Validate(); err != nil {
		return nil, "", err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Key](ctx, o, fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: k, Create: true})
	if err != nil {
		return nil, "", err
	}
	o.audit(c, "key created", "key_id", k.ID, "org_id", orgID)
	return res, secret, nil
}

// UpdateKey changes a key of an org the caller manages.
func (o *Ops) UpdateKey(ctx context.Context, c Caller, id string, in Input[KeyPatch]) (*fsm.Key, error) {
	o.begin(KeyUpdate)
	k, err := o.Key(c, id)
	if err != nil {
		return nil, err
	}
	if !c.CanManage(k.OrgID) {
		return nil, Forbidden("you may not change keys in this org")
	}
	p, err := in()
	if err != nil {
		return nil, err
	}
	if p.OrgID != nil && *p.OrgID != k.OrgID {
		return nil, Invalid("org_id", "org_id: a key cannot move to another org")
	}
	next := *k
	p.overlay(&next)
	if err := next.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Key](ctx, o, fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: next, ExpectVersion: k.Version})
	if err != nil {
		return nil, err
	}
	o.audit(c, "key changed", "key_id", k.ID, "org_id", k.OrgID, "disabled", next.Disabled)
	return res, nil
}

// RevokeKey revokes a key for good; the record stays for audit.
func (o *Ops) RevokeKey(ctx context.Context, c Caller, id string) error {
	o.begin(KeyRevoke)
	k, err := o.Key(c, id)
	if err != nil {
		return err
	}
	if !c.CanManage(k.OrgID) {
		return Forbidden("you may not revoke keys in this org")
	}
	if _, err := proposeFor[fsm.Key](ctx, o, fsm.TypeKeyDelete, fsm.DeleteBody{ID: k.ID}); err != nil {
		return err
	}
	o.audit(c, "key revoked", "key_id", k.ID, "org_id", k.OrgID)
	return nil
}
