package admin

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/fsm"
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

// keyRow is one key on the keys page.
type keyRow struct {
	*fsm.Key
	OrgName string
	Status  string
	Created string
	Manage  bool
}

type keysData struct {
	Keys         []keyRow
	Orgs         []*fsm.Org
	Capabilities []string
	NewSecret    string
}

func (s *Server) keysData(r *http.Request) keysData {
	p := principalFrom(r.Context())
	st := s.d.Viewer.View()
	now := s.d.Now()
	d := keysData{Capabilities: fsm.Capabilities}
	for _, o := range st.Orgs {
		if p.canManage(o.ID) {
			d.Orgs = append(d.Orgs, o)
		}
	}
	slices.SortFunc(d.Orgs, func(a, b *fsm.Org) int { return strings.Compare(a.Name, b.Name) })
	for _, k := range st.Keys {
		if !p.canRead(k.OrgID) {
			continue
		}
		row := keyRow{Key: k, Status: "active", Manage: p.canManage(k.OrgID) && k.RevokedAt == nil,
			Created: k.CreatedAt.In(st.OrgLocation(k.OrgID)).Format("2006-01-02 15:04")}
		if o := st.Orgs[k.OrgID]; o != nil {
			row.OrgName = o.Name
		}
		switch {
		case k.RevokedAt != nil:
			row.Status = "revoked"
		case k.Disabled:
			row.Status = "disabled"
		case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
			row.Status = "expired"
		}
		d.Keys = append(d.Keys, row)
	}
	slices.SortFunc(d.Keys, func(a, b keyRow) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return d
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "keys", page{Active: "keys", Data: s.keysData(r)})
}

// keysCreate creates a key from the form and shows its secret once.
func (s *Server) keysCreate(w http.ResponseWriter, r *http.Request) {
	lang := langOf(r)
	req, err := keyForm(r)
	if err == nil {
		var k *fsm.Key
		var secret string
		if k, secret, err = s.newKey(r.Context(), principalFrom(r.Context()), req); err == nil {
			d := s.keysData(r)
			d.NewSecret = secret
			s.render(w, r, "keys", page{Active: "keys", Data: d, Notice: translate(lang, "keys.secret") + " " + k.Name})
			return
		}
	}
	w.WriteHeader(toAPIError(err).Status)
	s.render(w, r, "keys", page{Active: "keys", Data: s.keysData(r), Error: consoleError(lang, err)})
}

// keyForm reads the create form into the API's request.
func keyForm(r *http.Request) (keyRequest, error) {
	if err := r.ParseForm(); err != nil {
		return keyRequest{}, badRequest("", "the form does not parse")
	}
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	req := keyRequest{Name: &name}
	if org := f.Get("org_id"); org != "" {
		req.OrgID = &org
	}
	scopes := f["scopes"]
	if prefixes := strings.TrimSpace(f.Get("paths")); prefixes != "" {
		for _, p := range strings.Split(prefixes, ",") {
			scopes = append(scopes, strings.TrimSpace(p))
		}
	}
	req.Scopes = &scopes
	if m := strings.TrimSpace(f.Get("models")); m != "" {
		var models stringList
		for _, x := range strings.Split(m, ",") {
			if x = strings.TrimSpace(x); x != "" {
				models = append(models, x)
			}
		}
		req.Models = &models
	}
	lr := &limitsRequest{}
	for field, dst := range map[string]**int64{"rpm": &lr.RPM, "tpm": &lr.TPM, "concurrency": &lr.Concurrency} {
		if v := strings.TrimSpace(f.Get(field)); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return req, badRequest(field, field+": must be a whole number")
			}
			*dst = &n
		}
	}
	if v := strings.TrimSpace(f.Get("budget")); v != "" {
		micros, err := fsm.ParseDecimal(v, 6)
		if err != nil || micros < 0 {
			return req, badRequest("budget", "budget: must be an amount such as 100.50")
		}
		lr.Budget = &money{micros: micros}
	}
	if v := f.Get("budget_period"); v != "" {
		lr.BudgetPeriod = &v
	}
	req.Limits = lr
	if v := strings.TrimSpace(f.Get("expires_at")); v != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", v, time.Local)
		if err != nil {
			return req, badRequest("expires_at", "expires_at: must be a date and time")
		}
		req.ExpiresAt = optTime{present: true, t: &t}
	}
	return req, nil
}

// keysAction disables, enables or revokes a key.
func (s *Server) keysAction(w http.ResponseWriter, r *http.Request) {
	lang := langOf(r)
	p := principalFrom(r.Context())
	k, ok := s.d.Viewer.View().Keys[chi.URLParam(r, "id")]
	var err error
	switch {
	case !ok || !p.canRead(k.OrgID):
		err = notFoundErr("key not found")
	case !p.canManage(k.OrgID):
		err = forbidden("you may not change keys in this org")
	default:
		switch chi.URLParam(r, "action") {
		case "disable", "enable":
			next := *k
			next.Disabled = chi.URLParam(r, "action") == "disable"
			_, err = s.propose(r.Context(), fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: next, ExpectVersion: k.Version})
		case "revoke":
			_, err = s.propose(r.Context(), fsm.TypeKeyDelete, fsm.DeleteBody{ID: k.ID})
			if err == nil {
				s.log.Info("key revoked", "key_id", k.ID, "org_id", k.OrgID, "user_id", p.user.ID)
			}
		default:
			err = notFoundErr("no such action")
		}
	}
	if err != nil {
		w.WriteHeader(toAPIError(err).Status)
		s.render(w, r, "keys", page{Active: "keys", Data: s.keysData(r), Error: consoleError(lang, err)})
		return
	}
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
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
