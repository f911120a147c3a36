package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// KeysPerPage is how many keys the keys page lists at once.
const KeysPerPage = 50

// keyRow is one key on the keys page.
type keyRow struct {
	*fsm.Key
	OrgName  string
	Status   string
	Created  string
	LastUsed string
	// Usage is the key's use in its current budget period (the calendar
	// month when it has no budget).
	Usage  *event.Totals
	Period string
	Manage bool
}

type keysData struct {
	Keys         []keyRow
	Orgs         []*fsm.Org
	Capabilities []string
	NewSecret    string
	// Search, Org and Page are the list's filter; Total the number of
	// keys it matches; Prev and Next the neighbouring pages' links.
	Search, Org string
	Page, Total int
	Prev, Next  string
	UsageError  string
}

// keysData lists one page of the keys the caller may read, newest
// first, filtered by name, prefix or id (q) and org, with each key's last
// use and its usage this period.
func (s *Console) keysData(r *http.Request) keysData {
	p := principalFrom(r.Context())
	st := s.d.Viewer.View()
	now := s.d.Now()
	q := r.URL.Query()
	d := keysData{Capabilities: fsm.Capabilities, Search: strings.TrimSpace(q.Get("q")), Org: q.Get("org")}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)
	for _, o := range st.Orgs {
		if p.canManage(o.ID) {
			d.Orgs = append(d.Orgs, o)
		}
	}
	slices.SortFunc(d.Orgs, func(a, b *fsm.Org) int { return strings.Compare(a.Name, b.Name) })
	search := strings.ToLower(d.Search)
	var match []*fsm.Key
	for _, k := range st.AllKeys() {
		if !p.canRead(k.OrgID) || (d.Org != "" && k.OrgID != d.Org) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(k.Name), search) && !strings.HasPrefix(k.Prefix, d.Search) && k.ID != d.Search {
			continue
		}
		match = append(match, k)
	}
	slices.SortFunc(match, func(a, b *fsm.Key) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID)) })
	d.Total = len(match)
	from := min((d.Page-1)*KeysPerPage, len(match))
	to := min(from+KeysPerPage, len(match))
	link := func(n int) string {
		v := url.Values{}
		if d.Search != "" {
			v.Set("q", d.Search)
		}
		if d.Org != "" {
			v.Set("org", d.Org)
		}
		v.Set("page", strconv.Itoa(n))
		return "/keys?" + v.Encode()
	}
	if from > 0 {
		d.Prev = link(d.Page - 1)
	}
	if to < len(match) {
		d.Next = link(d.Page + 1)
	}
	// Keys whose periods start together are summed in one query.
	byStart := map[time.Time][]int{}
	for _, k := range match[from:to] {
		loc := st.OrgLocation(k.OrgID)
		row := keyRow{Key: k, Status: web.KeyStatus(k, now), Manage: p.canManage(k.OrgID) && k.RevokedAt == nil,
			Created: k.CreatedAt.In(loc).Format("2006-01-02 15:04"), Period: cmp.Or(k.Limits.BudgetPeriod, fsm.PeriodMonthly)}
		if o := st.Orgs[k.OrgID]; o != nil {
			row.OrgName = o.Name
		}
		if t := st.LastUsed(k.ID); !t.IsZero() {
			row.LastUsed = t.In(loc).Format("2006-01-02 15:04:05")
		}
		start := fsm.BudgetPeriodStart(row.Period, now, loc)
		byStart[start] = append(byStart[start], len(d.Keys))
		d.Keys = append(d.Keys, row)
	}
	for start, rows := range byStart {
		ids := make([]string, len(rows))
		for i, n := range rows {
			ids[i] = d.Keys[n].ID
		}
		rep, err := s.d.Usage.Usage(r.Context(), event.UsageQuery{Filter: event.Filter{KeyIDs: ids, From: start}, GroupBy: "key"})
		if err != nil {
			d.UsageError = fmt.Sprintf("usage: %v", err)
			continue
		}
		for _, n := range rows {
			d.Keys[n].Usage = &event.Totals{}
			for _, g := range rep.Groups {
				if g.Key == d.Keys[n].ID {
					d.Keys[n].Usage = &g.Totals
				}
			}
		}
	}
	return d
}

func (s *Console) keysPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "keys", page{Active: "keys", Data: s.keysData(r)})
}

// keysCreate creates a key from the form and shows its secret once.
func (s *Console) keysCreate(w http.ResponseWriter, r *http.Request) {
	lang := langOf(r)
	req, err := keyForm(r)
	if err == nil {
		var k *fsm.Key
		var secret string
		if k, secret, err = s.ops.CreateKey(r.Context(), principalFrom(r.Context()).caller(), req); err == nil {
			d := s.keysData(r)
			d.NewSecret = secret
			s.render(w, r, "keys", page{Active: "keys", Data: d, Notice: translate(lang, "keys.secret") + " " + k.Name})
			return
		}
	}
	w.WriteHeader(web.ToAPIError(err).Status)
	s.render(w, r, "keys", page{Active: "keys", Data: s.keysData(r), Error: consoleError(lang, err)})
}

// keyForm reads the create form as the operation takes it.
func keyForm(r *http.Request) (ops.KeyPatch, error) {
	if err := r.ParseForm(); err != nil {
		return ops.KeyPatch{}, web.BadRequest("", "the form does not parse")
	}
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	req := ops.KeyPatch{Name: &name}
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
		var models []string
		for _, x := range strings.Split(m, ",") {
			if x = strings.TrimSpace(x); x != "" {
				models = append(models, x)
			}
		}
		req.Models = &models
	}
	lr := &ops.LimitsPatch{}
	for field, dst := range map[string]**int64{"rpm": &lr.RPM, "tpm": &lr.TPM, "concurrency": &lr.Concurrency} {
		if v := strings.TrimSpace(f.Get(field)); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return req, web.BadRequest(field, field+": must be a whole number")
			}
			*dst = &n
		}
	}
	if v := strings.TrimSpace(f.Get("budget")); v != "" {
		micros, err := fsm.ParseDecimal(v, 6)
		if err != nil || micros < 0 {
			return req, web.BadRequest("budget", "budget: must be an amount such as 100.50")
		}
		lr.Budget = &micros
	}
	if v := f.Get("budget_period"); v != "" {
		lr.BudgetPeriod = &v
	}
	req.Limits = lr
	if v := strings.TrimSpace(f.Get("expires_at")); v != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", v, time.Local)
		if err != nil {
			return req, web.BadRequest("expires_at", "expires_at: must be a date and time")
		}
		req.SetExpiresAt, req.ExpiresAt = true, &t
	}
	return req, nil
}

// keysAction disables, enables or revokes a key.
func (s *Console) keysAction(w http.ResponseWriter, r *http.Request) {
	c, id := principalFrom(r.Context()).caller(), chi.URLParam(r, "id")
	var err error
	switch a := chi.URLParam(r, "action"); a {
	case "disable", "enable":
		disabled := a == "disable"
		_, err = s.ops.UpdateKey(r.Context(), c, id, ops.Given(ops.KeyPatch{Disabled: &disabled}))
	case "revoke":
		err = s.ops.RevokeKey(r.Context(), c, id)
	default:
		err = web.NotFound("no such action")
	}
	if err != nil {
		w.WriteHeader(web.ToAPIError(err).Status)
		s.render(w, r, "keys", page{Active: "keys", Data: s.keysData(r), Error: consoleError(langOf(r), err)})
		return
	}
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
}
