package ops

import (
	"context"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
)

// OrgPatch holds the org fields a request sets; nil keeps a value.
type OrgPatch struct {
	Name     *string
	TimeZone *string
}

func (p *OrgPatch) overlay(o *fsm.Org) {
	if p.Name != nil {
		o.Name = strings.TrimSpace(*p.Name)
	}
	if p.TimeZone != nil {
		o.TimeZone = *p.TimeZone
	}
}

// Org returns an org the caller may read; others are not found, so ids of
// other tenants are not confirmed.
func (o *Ops) Org(c Caller, id string) (*fsm.Org, error) {
	org, ok := o.d.Viewer.View().Orgs[id]
	if !ok || !c.CanRead(id) {
		return nil, NotFound("org " + id + " not found")
	}
	return org, nil
}

// CreateOrg creates an org (super admins only).
func (o *Ops) CreateOrg(ctx context.Context, c Caller, in Input[OrgPatch]) (*fsm.Org, error) {
	o.begin(OrgCreate)
	if err := c.RequireSuper(); err != nil {
		return nil, err
	}
	p, err := in()
	if err != nil {
		return nil, err
	}
	if p.Name == nil {
		return nil, Invalid("name", "name: is required")
	}
	org := fsm.Org{ID: NewID("org")}
	p.overlay(&org)
	if err := org.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Org](ctx, o, fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: org, Create: true})
	if err != nil {
		return nil, err
	}
	o.audit(c, "org created", "org_id", org.ID)
	return res, nil
}

// UpdateOrg renames an org the caller manages or changes its time zone
// (super admins only: the org's budget periods follow it).
func (o *Ops) UpdateOrg(ctx context.Context, c Caller, id string, in Input[OrgPatch]) (*fsm.Org, error) {
	o.begin(OrgUpdate)
	cur, err := o.Org(c, id)
	if err != nil {
		return nil, err
	}
	if !c.CanManage(cur.ID) {
		return nil, Forbidden("you may not change this org")
	}
	p, err := in()
	if err != nil {
		return nil, err
	}
	if p.TimeZone != nil && *p.TimeZone != cur.TimeZone && !c.Super() {
		// The zone draws the org's budget periods: moving it starts a new
		// day or month at will, so it is the super admin's, like the budget.
		return nil, Forbidden("only a super admin may change an org's time zone: its budget periods follow it")
	}
	next := *cur
	p.overlay(&next)
	if err := next.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Org](ctx, o, fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: next, ExpectVersion: cur.Version})
	if err != nil {
		return nil, err
	}
	o.audit(c, "org changed", "org_id", cur.ID)
	return res, nil
}

// DeleteOrg deletes an org (super admins only).
func (o *Ops) DeleteOrg(ctx context.Context, c Caller, id string) error {
	o.begin(OrgDelete)
	if err := c.RequireSuper(); err != nil {
		return err
	}
	cur, err := o.Org(c, id)
	if err != nil {
		return err
	}
	if _, err := proposeFor[fsm.NoResult](ctx, o, fsm.TypeOrgDelete, fsm.DeleteBody{ID: cur.ID}); err != nil {
		return err
	}
	o.audit(c, "org deleted", "org_id", cur.ID)
	return nil
}
