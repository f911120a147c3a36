package console

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// consoleError turns an action's error into a message for the page.
func consoleError(lang string, err error) string {
	if web.ToAPIError(err).Status == http.StatusForbidden {
		return translate(lang, "err.forbidden")
	}
	return web.ToAPIError(err).Message
}

func (s *Console) passwordPage(w http.ResponseWriter, r *http.Request) {
	pg := page{Active: "password"}
	if principalFrom(r.Context()).user.MustChangePassword {
		pg.Notice = translate(langOf(r), "pw.must")
	}
	s.render(w, r, "password", pg)
}

func (s *Console) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	u, err := s.ops.SetPassword(r.Context(), principalFrom(r.Context()).caller(), r.PostFormValue("current_password"), r.PostFormValue("new_password"))
	if err != nil {
		w.WriteHeader(web.ToAPIError(err).Status)
		s.render(w, r, "password", page{Active: "password", Error: consoleError(langOf(r), err)})
		return
	}
	s.d.Auth.SetSession(w, r, u)
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
	// ErrorRate is the share of failed requests, in percent.
	ErrorRate string
	// ByModel, ByProvider and TopKeys are the busiest groups.
	ByModel, ByProvider, TopKeys []event.Group
	KeyNames                     map[string]string
	// Series is the hourly requests and errors, as uPlot wants it:
	// [times, requests, errors]; Latency the hourly mean latency (ms).
	Series, Latency [][]float64
}

// overviewTop is how many groups each of the overview's tables shows.
const overviewTop = 5

func (s *Console) overviewPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	st := s.d.Viewer.View()
	loc := time.UTC
	org := ""
	if !p.super() {
		org = p.user.OrgID
		loc = st.OrgLocation(org)
	} else if o, ok := st.OrgByName(s.cfg.DefaultOrgName); ok {
		loc = st.OrgLocation(o.ID)
	}
	now := s.d.Now()
	f := event.Filter{OrgID: org, From: now.Add(-24 * time.Hour).Truncate(time.Hour)}
	pg := page{Active: "overview"}
	ov := overview{Loc: loc}
	// The four questions are independent: asked at once.
	reports := make([]*event.UsageReport, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i, q := range []event.UsageQuery{
		{Filter: f, Bucket: "hour", GroupBy: "capability", Loc: loc},
		{Filter: f, GroupBy: "model", Loc: loc},
		{Filter: f, GroupBy: "provider", Loc: loc},
		{Filter: f, GroupBy: "key", Loc: loc},
	} {
		wg.Go(func() { reports[i], errs[i] = s.d.Usage.Usage(r.Context(), q) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		pg.Error = err.Error()
	} else {
		rep := reports[0]
		ov.Report, ov.Costs = rep, rep.Totals.CostMicros
		ov.Tokens = rep.Totals.PromptTokens + rep.Totals.CompletionTokens
		if rep.Totals.Requests > 0 {
			ov.ErrorRate = strconv.FormatFloat(100*float64(rep.Totals.Errors)/float64(rep.Totals.Requests), 'f', 2, 64)
		}
		pts := chartPoints(rep.Series, "hour", f.From, now, loc, func(t event.Totals) []float64 {
			return []float64{float64(t.Requests), float64(t.Errors), float64(t.MeanLatencyMS())}
		})
		ov.Series, ov.Latency = pts[:3], [][]float64{pts[0], pts[3]}
		ov.ByModel, ov.ByProvider = busiest(reports[1].Groups, overviewTop), busiest(reports[2].Groups, overviewTop)
		ov.TopKeys = busiest(reports[3].Groups, overviewTop)
		ov.KeyNames = keyNames(st, ov.TopKeys)
	}
	ov.Members, ov.Leader = s.members(r)
	pg.Data = ov
	s.render(w, r, "overview", pg)
}

// busiest returns the n groups with the most requests, busiest first.
func busiest(groups []event.Group, n int) []event.Group {
	out := slices.Clone(groups)
	slices.SortStableFunc(out, func(a, b event.Group) int { return cmp.Compare(b.Requests, a.Requests) })
	return out[:min(len(out), n)]
}

// keyNames are the names of the keys groups are keyed by, by id.
func keyNames(st *fsm.State, groups []event.Group) map[string]string {
	names := map[string]string{}
	for _, g := range groups {
		if k := st.Key(g.Key); k != nil {
			names[g.Key] = k.Name
		}
	}
	return names
}

// memberView is one cluster member on a page.
type memberView struct {
	ID, Role, HTTP, Version string
	Alive                   bool
	Applied, Lag            uint64
}

func (s *Console) members(r *http.Request) ([]memberView, string) {
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

func (s *Console) clusterPage(w http.ResponseWriter, r *http.Request) {
	ms, leader := s.members(r)
	s.render(w, r, "cluster", page{Active: "cluster", Data: clusterData{Members: ms, Leader: leader}})
}

func (s *Console) clusterTransfer(w http.ResponseWriter, r *http.Request) {
	_, err := s.ops.TransferLeader(r.Context(), principalFrom(r.Context()).caller(), ops.Given(ops.Transfer{NodeID: r.PostFormValue("node_id")}))
	s.clusterResult(w, r, err)
}

func (s *Console) clusterRemove(w http.ResponseWriter, r *http.Request) {
	s.clusterResult(w, r, s.ops.RemoveMember(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "id")))
}

// clusterResult shows the cluster page again after a membership change
// (see afterAction).
func (s *Console) clusterResult(w http.ResponseWriter, r *http.Request, err error) {
	s.afterAction(w, r, "cluster", func() any {
		ms, leader := s.members(r)
		return clusterData{Members: ms, Leader: leader}
	}, err)
}

// afterAction ends a form's action on page name (served at /name): on an
// error the page again with the message, under the status the API would
// answer; else a redirect to it, so a reload does not post twice.
func (s *Console) afterAction(w http.ResponseWriter, r *http.Request, name string, data func() any, err error) {
	if err != nil {
		w.WriteHeader(web.ToAPIError(err).Status)
		s.render(w, r, name, page{Active: name, Data: data(), Error: consoleError(langOf(r), err)})
		return
	}
	http.Redirect(w, r, "/"+name, http.StatusSeeOther)
}
