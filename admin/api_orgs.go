package admin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/fsm"
)

type orgJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   uint64    `json:"version"`
}

func toOrgJSON(o *fsm.Org) orgJSON {
	tz := o.TimeZone
	if tz == "" {
		tz = fsm.DefaultTimeZone
	}
	return orgJSON{ID: o.ID, Name: o.Name, TimeZone: tz, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Version: o.Version}
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	view := s.d.Viewer.View()
	out := []orgJSON{}
	for _, o := range view.Orgs {
		if p.canRead(o.ID) {
			out = append(out, toOrgJSON(o))
		}
	}
	slices.SortFunc(out, func(a, b orgJSON) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, list[orgJSON]{Data: out})
	return nil
}

// lookupOrg finds an org the principal may read; others get 404, so ids of
// other tenants are not confirmed.
func (s *Server) lookupOrg(r *http.Request) (*fsm.Org, error) {
	id := chi.URLParam(r, "id")
	o, ok := s.d.Viewer.View().Orgs[id]
	if !ok || !principalFrom(r.Context()).canRead(id) {
		return nil, notFoundErr("org " + id + " not found")
	}
	return o, nil
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.lookupOrg(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrgJSON(o))
	return nil
}

type orgRequest struct {
	Name     *string `json:"name"`
	TimeZone *string `json:"time_zone"`
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	var req orgRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return badRequest("name", "name: is required")
	}
	o := fsm.Org{ID: newID("org"), Name: strings.TrimSpace(*req.Name)}
	if req.TimeZone != nil {
		o.TimeZone = *req.TimeZone
	}
	if err := o.Validate(); err != nil {
		return err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(r.Context(), fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: o, Create: true})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toOrgJSON(res.(*fsm.Org)))
	return nil
}

func (s *Server) patchOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.lookupOrg(r)
	if err != nil {
		return err
	}
	if !principalFrom(r.Context()).canManage(o.ID) {
		return forbidden("you may not change this org")
	}
	var req orgRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	next := *o
	if req.Name != nil {
		next.Name = strings.TrimSpace(*req.Name)
	}
	if req.TimeZone != nil {
		next.TimeZone = *req.TimeZone
	}
	if err := next.Validate(); err != nil {
		return err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(r.Context(), fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: next, ExpectVersion: o.Version})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrgJSON(res.(*fsm.Org)))
	return nil
}

func (s *Server) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	o, err := s.lookupOrg(r)
	if err != nil {
		return err
	}
	if _, err := s.propose(r.Context(), fsm.TypeOrgDelete, fsm.DeleteBody{ID: o.ID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
