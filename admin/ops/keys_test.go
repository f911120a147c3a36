package ops

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// builderApplier commits through an fsmtest.Builder, as raft would.
type builderApplier struct{ b *fsmtest.Builder }

func (a builderApplier) Apply(ctx context.Context, c fsm.Command) (any, error) {
	return a.b.Commit(ctx, c)
}

func TestKeyOperationsDecideWhoMayActOnce(t *testing.T) {
	b := fsmtest.New(t)
	b.Apply(fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Create: true, Org: fsm.Org{ID: "org2", Name: "other"}})
	var logs bytes.Buffer
	var seen []Name
	o, err := New(Deps{Applier: builderApplier{b}, Viewer: b, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Observe: func(n Name) { seen = append(seen, n) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	super := Caller{User: &fsm.User{ID: "u1", Role: fsm.RoleSuperAdmin}}
	admin1 := Caller{User: &fsm.User{ID: "oa1", Role: fsm.RoleOrgAdmin, OrgID: "org1"}}
	member1 := Caller{User: &fsm.User{ID: "m1", Role: fsm.RoleMember, OrgID: "org1"}}
	admin2 := Caller{User: &fsm.User{ID: "oa2", Role: fsm.RoleOrgAdmin, OrgID: "org2"}}
	name := "k"
	org1 := "org1"
	k, secret, err := o.CreateKey(ctx, admin1, KeyPatch{Name: &name})
	if err != nil || k.OrgID != "org1" || !strings.HasPrefix(secret, "gk_") || k.CreatedBy != "oa1" {
		t.Fatalf("create: %+v %q %v", k, secret, err)
	}
	if _, _, err := o.CreateKey(ctx, super, KeyPatch{Name: &name}); KindOf(err) != KindInvalid {
		t.Errorf("super admin without org_id among two orgs: got %v, want invalid", err)
	}
	if _, _, err := o.CreateKey(ctx, member1, KeyPatch{Name: &name, OrgID: &org1}); KindOf(err) != KindForbidden {
		t.Errorf("member creates: got %v, want forbidden", err)
	}
	if _, _, err := o.CreateKey(ctx, admin2, KeyPatch{Name: &name, OrgID: &org1}); KindOf(err) != KindInvalid {
		t.Errorf("other org's admin creates: got %v, want invalid (org not found)", err)
	}
	disabled := true
	for _, tc := range []struct {
		name string
		c    Caller
		want Kind
	}{
		{"member", member1, KindForbidden},
		{"other org's admin", admin2, KindNotFound},
	} {
		if _, err := o.UpdateKey(ctx, tc.c, k.ID, Given(KeyPatch{Disabled: &disabled})); KindOf(err) != tc.want {
			t.Errorf("%s updates: got %v, want kind %v", tc.name, err, tc.want)
		}
		if err := o.RevokeKey(ctx, tc.c, k.ID); KindOf(err) != tc.want {
			t.Errorf("%s revokes: got %v, want kind %v", tc.name, err, tc.want)
		}
	}
	other := "org2"
	if _, err := o.UpdateKey(ctx, admin1, k.ID, Given(KeyPatch{OrgID: &other})); KindOf(err) != KindInvalid {
		t.Errorf("move to another org: got %v, want invalid", err)
	}
	if got, err := o.UpdateKey(ctx, admin1, k.ID, Given(KeyPatch{Disabled: &disabled})); err != nil || !got.Disabled {
		t.Fatalf("disable: %+v %v", got, err)
	}
	if err := o.RevokeKey(ctx, admin1, k.ID); err != nil || b.View().Key(k.ID).RevokedAt == nil {
		t.Fatalf("revoke: %v", err)
	}
	if !strings.Contains(logs.String(), "msg=\"key revoked\" component=admin key_id="+k.ID+" org_id=org1 user_id=oa1") {
		t.Errorf("audit line missing or changed:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("a key's secret reached the logs")
	}
	if len(seen) == 0 || seen[0] != KeyCreate || seen[len(seen)-1] != KeyRevoke {
		t.Errorf("observed %v", seen)
	}
}
