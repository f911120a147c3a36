package ops

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// fakeApplier answers every command with res, err.
type fakeApplier struct {
	res  any
	err  error
	cmds []fsm.Command
}

func (f *fakeApplier) Apply(_ context.Context, c fsm.Command) (any, error) {
	f.cmds = append(f.cmds, c)
	return f.res, f.err
}

type fakeViewer struct{ st *fsm.State }

func (v fakeViewer) View() *fsm.State { return v.st }

func newOps(t *testing.T, a *fakeApplier) *Ops {
	t.Helper()
	o, err := New(Deps{Applier: a, Viewer: fakeViewer{fsm.New().View()}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestProposeForChecksTheResultType(t *testing.T) {
	ctx := context.Background()
	a := &fakeApplier{res: &fsm.Org{ID: "org_1"}}
	o := newOps(t, a)
	body := fsm.OrgUpsertBody{Org: fsm.Org{ID: "org_1", Name: "x"}}
	if got, err := proposeFor[fsm.Org](ctx, o, fsm.TypeOrgUpsert, body); err != nil || got.ID != "org_1" {
		t.Fatalf("got %v, %v, want org_1", got, err)
	}
	if a.cmds[0].Deadline.IsZero() {
		t.Fatal("the command carries no deadline")
	}
	if _, err := proposeFor[fsm.Key](ctx, o, fsm.TypeOrgUpsert, body); err == nil {
		t.Fatal("a result type other than the command's was accepted")
	}
	a.res = nil
	if _, err := proposeFor[fsm.Org](ctx, o, fsm.TypeOrgUpsert, body); err == nil {
		t.Fatal("a missing result was accepted")
	}
	a.res = &fsm.NoResult{}
	if _, err := proposeFor[fsm.NoResult](ctx, o, fsm.TypeOrgDelete, fsm.DeleteBody{ID: "org_1"}); err != nil {
		t.Fatalf("a command without a result: %v", err)
	}
	a.err = errors.New("boom")
	if _, err := proposeFor[fsm.Org](ctx, o, fsm.TypeOrgUpsert, body); !errors.Is(err, a.err) {
		t.Fatalf("got %v, want the apply error", err)
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Kind
	}{
		{NotFound("x"), KindNotFound},
		{fmt.Errorf("wrapped: %w", Forbidden("x")), KindForbidden},
		{Invalid("name", "x"), KindInvalid},
		{&fsm.Error{Code: fsm.CodeConflict}, KindConflict},
		{&fsm.Error{Code: fsm.CodeNotFound}, KindNotFound},
		{&fsm.Error{Code: fsm.CodeInvalid}, KindInvalid},
		{&fsm.Error{Code: fsm.CodeExpired}, KindInternal},
		{errors.New("disk"), KindInternal},
	} {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v): got %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestCallerRoles(t *testing.T) {
	super := Caller{User: &fsm.User{Role: fsm.RoleSuperAdmin}}
	admin := Caller{User: &fsm.User{Role: fsm.RoleOrgAdmin, OrgID: "a"}}
	member := Caller{User: &fsm.User{Role: fsm.RoleMember, OrgID: "a"}}
	for _, tc := range []struct {
		name               string
		c                  Caller
		org                string
		read, manage, root bool
	}{
		{"super, any org", super, "b", true, true, true},
		{"org admin, own org", admin, "a", true, true, false},
		{"org admin, other org", admin, "b", false, false, false},
		{"member, own org", member, "a", true, false, false},
		{"nobody", Caller{}, "a", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.CanRead(tc.org); got != tc.read {
				t.Errorf("CanRead: got %v, want %v", got, tc.read)
			}
			if got := tc.c.CanManage(tc.org); got != tc.manage {
				t.Errorf("CanManage: got %v, want %v", got, tc.manage)
			}
			if got := tc.c.RequireSuper() == nil; got != tc.root {
				t.Errorf("RequireSuper passes: got %v, want %v", got, tc.root)
			}
		})
	}
}

func TestRefusedCallerIsRefusedBeforeInputIsRead(t *testing.T) {
	a := &fakeApplier{}
	o := newOps(t, a)
	member := Caller{User: &fsm.User{Role: fsm.RoleMember, OrgID: "a"}}
	read := false
	_, err := o.CreateProvider(context.Background(), member, func() (ProviderPatch, error) { read = true; return ProviderPatch{}, nil })
	if KindOf(err) != KindForbidden || read || len(a.cmds) != 0 {
		t.Fatalf("got %v (input read %v, %d commands), want forbidden before reading", err, read, len(a.cmds))
	}
}
