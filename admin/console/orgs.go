package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
)

// orgsData is the 组织与成员 page's data: the orgs the caller sees, each
// with its members.
type orgsData struct {
	Orgs  []orgView
	Roles []string // the roles the caller may give
	Super []any
}

type orgView struct {
	*fsm.Org
	Members []any
	Manage  bool
	TZ      string
}

func (s *Console) orgsData(r *http.Request) orgsData {
	p := principalFrom(r.Context())
	st := s.d.Viewer.View()
	d := orgsData{Roles: []string{fsm.RoleMember, fsm.RoleOrgAdmin}}
	if p.super() {
		d.Roles = append(d.Roles, fsm.RoleSuperAdmin)
		d.Super = s.d.API.UsersView(p.caller(), func(u *fsm.User) bool { return u.OrgID == "" })
	}
	for _, o := range st.Orgs {
		if !p.canRead(o.ID) {
			continue
		}
		d.Orgs = append(d.Orgs, orgView{Org: o, Members: s.d.API.UsersView(p.caller(), func(u *fsm.User) bool { return u.OrgID == o.ID }), Manage: p.canManage(o.ID), TZ: st.OrgLocation(o.ID).String()})
	}
	slices.SortFunc(d.Orgs, func(a, b orgView) int { return strings.Compare(a.Name, b.Name) })
	return d
}

func (s *Console) orgsPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "orgs", page{Active: "orgs", Data: s.orgsData(r)})
}

// orgsResult shows the page again after an action (see afterAction).
func (s *Console) orgsResult(w http.ResponseWriter, r *http.Request, err error) {
	s.afterAction(w, r, "orgs", func() any { return s.orgsData(r) }, err)
}

func (s *Console) orgsCreate(w http.ResponseWriter, r *http.Request) {
	name, tz := strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("time_zone"))
	_, err := s.ops.CreateOrg(r.Context(), principalFrom(r.Context()).caller(), ops.Given(ops.OrgPatch{Name: &name, TimeZone: &tz}))
	s.orgsResult(w, r, err)
}

func (s *Console) membersCreate(w http.ResponseWriter, r *http.Request) {
	f := func(k string) *string { v := strings.TrimSpace(r.PostFormValue(k)); return &v }
	org := chi.URLParam(r, "org")
	pw := r.PostFormValue("password")
	_, err := s.ops.CreateUser(r.Context(), principalFrom(r.Context()).caller(), ops.UserPatch{Email: f("email"), Name: f("name"), Password: &pw, Role: f("role"), OrgID: &org})
	s.orgsResult(w, r, err)
}

func (s *Console) membersAction(w http.ResponseWriter, r *http.Request) {
	disabled := chi.URLParam(r, "action") == "disable"
	var err error
	if a := chi.URLParam(r, "action"); a != "disable" && a != "enable" {
		err = web.NotFound("no such action")
	} else {
		_, err = s.ops.UpdateUser(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id"), ops.UserPatch{Disabled: &disabled})
	}
	s.orgsResult(w, r, err)
}
