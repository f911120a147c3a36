package admin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
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

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.ops.Org(principalFrom(r.Context()).caller(), chi.URLParam(r, "id"))
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

// readOrg reads the body once the operation asks for it.
func readOrg(w http.ResponseWriter, r *http.Request) ops.Input[ops.OrgPatch] {
	return func() (ops.OrgPatch, error) {
		var req orgRequest
		err := decodeJSON(w, r, &req)
		return ops.OrgPatch{Name: req.Name, TimeZone: req.TimeZone}, err
	}
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.ops.CreateOrg(r.Context(), principalFrom(r.Context()).caller(), readOrg(w, r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toOrgJSON(o))
	return nil
}

func (s *Server) patchOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.ops.UpdateOrg(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id"), readOrg(w, r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrgJSON(o))
	return nil
}

func (s *Server) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	if err := s.ops.DeleteOrg(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// lookupOrg finds the org of the path that the principal may read.
func (s *Server) lookupOrg(r *http.Request) (*fsm.Org, error) {
	return s.ops.Org(principalFrom(r.Context()).caller(), chi.URLParam(r, "id"))
}
