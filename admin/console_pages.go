package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/storage/event"
)

// consoleError turns an action's error into a message for the page.
func consoleError(lang string, err error) string {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
		return translate(lang, "err.forbidden")
	}
	return toAPIError(err).Message
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	pg := page{Active: "password"}
	if principalFrom(r.Context()).user.MustChangePassword {
		pg.Notice = translate(langOf(r), "pw.must")
	}
	s.render(w, r, "password", pg)
}

func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	u, err := s.setPassword(r.Context(), principalFrom(r.Context()).user, r.PostFormValue("current_password"), r.PostFormValue("new_password"))
	if err != nil {
		w.WriteHeader(toAPIError(err).Status)
		s.render(w, r, "password", page{Active: "password", Error: consoleError(langOf(r), err)})
		return
	}
	s.setSession(w, r, u)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// overview is the 概览 page's data.
type overview struct {
	Report  *event.UsageReport
	Loc     *time.Location
	Tokens  int64
	Costs   map[string]int64
	Members []memberView
	Leader  string
	// Series is the hourly requests, as uPlot wants it: [times, values].
	Series [2][]float64
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	loc := time.UTC
	org := ""
	if !p.super() {
		org = p.user.OrgID
		loc = s.d.Viewer.View().OrgLocation(org)
	} else if o, ok := s.d.Viewer.View().OrgByName(DefaultOrgName); ok {
		loc = s.d.Viewer.View().OrgLocation(o.ID)
	}
	now := s.d.Now()
	q := event.UsageQuery{Filter: event.Filter{OrgID: org, From: now.Add(-24 * time.Hour).Truncate(time.Hour)}, Bucket: "hour", GroupBy: "capability", Loc: loc}
	pg := page{Active: "overview"}
	ov := overview{Loc: loc}
	if rep, err := s.d.Usage.Usage(r.Context(), q); err != nil {
		pg.Error = err.Error()
	} else {
		ov.Report, ov.Costs = rep, rep.Totals.CostMicros
		ov.Tokens = rep.Totals.PromptTokens + rep.Totals.CompletionTokens
		for _, pt := range rep.Series {
			ov.Series[0] = append(ov.Series[0], float64(pt.Time.Unix()))
			ov.Series[1] = append(ov.Series[1], float64(pt.Requests))
		}
	}
	ov.Members, ov.Leader = s.members(r)
	pg.Data = ov
	s.render(w, r, "overview", pg)
}

// memberView is one cluster member on a page.
type memberView struct {
	ID, Role, HTTP, Version string
	Alive                   bool
	Applied, Lag            uint64
}

func (s *Server) members(r *http.Request) ([]memberView, string) {
	ms, err := s.d.Cluster.Members(r.Context())
	if err != nil {
		return nil, ""
	}
	var top uint64
	for _, m := range ms {
		top = max(top, m.AppliedIndex)
	}
	out := make([]memberView, 0, len(ms))
	for _, m := range ms {
		mv := memberView{ID: m.ID, Role: m.Role, HTTP: m.HTTPAddr, Version: m.Version, Alive: m.Alive, Applied: m.AppliedIndex}
		if m.Alive {
			mv.Lag = top - m.AppliedIndex
		}
		out = append(out, mv)
	}
	return out, s.d.Cluster.Leader()
}

type clusterData struct {
	Members []memberView
	Leader  string
}

func (s *Server) clusterPage(w http.ResponseWriter, r *http.Request) {
	ms, leader := s.members(r)
	s.render(w, r, "cluster", page{Active: "cluster", Data: clusterData{Members: ms, Leader: leader}})
}

func (s *Server) clusterTransfer(w http.ResponseWriter, r *http.Request) {
	s.clusterAction(w, r, func() error { return s.d.Cluster.TransferLeader(r.Context(), r.PostFormValue("node_id")) })
}

func (s *Server) clusterRemove(w http.ResponseWriter, r *http.Request) {
	s.clusterAction(w, r, func() error { return s.d.Cluster.Remove(r.Context(), chi.URLParam(r, "id")) })
}

// clusterAction runs a super-admin membership change.
func (s *Server) clusterAction(w http.ResponseWriter, r *http.Request, do func() error) {
	err := principalFrom(r.Context()).requireSuper()
	if err == nil {
		err = do()
	}
	if err != nil {
		ms, leader := s.members(r)
		w.WriteHeader(toAPIError(err).Status)
		s.render(w, r, "cluster", page{Active: "cluster", Data: clusterData{Members: ms, Leader: leader}, Error: consoleError(langOf(r), err)})
		return
	}
	http.Redirect(w, r, "/cluster", http.StatusSeeOther)
}
