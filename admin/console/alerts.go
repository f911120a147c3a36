package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
)

// AlertRecord is one alert delivery, as the 告警 page lists it.
type AlertRecord struct {
	Time     time.Time
	Type     string
	Severity string
	OrgID    string
	Message  string
	Target   string
	Result   string
}

type alertsData struct {
	System   bool // a system webhook is configured
	Policies []policyView
	Recent   []AlertRecord
}

func (s *Console) alertsData(r *http.Request) alertsData {
	p := principalFrom(r.Context())
	d := alertsData{System: s.cfg.SystemWebhook, Policies: s.routingData(r).Policies}
	if s.d.Alerts != nil {
		for _, a := range s.d.Alerts() {
			if p.super() || (a.OrgID != "" && p.canRead(a.OrgID)) {
				if !p.super() {
					a.Target = "" // a system webhook's address is not an org's business
				}
				d.Recent = append(d.Recent, a)
			}
		}
	}
	return d
}

func (s *Console) alertsPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "alerts", page{Active: "alerts", Data: s.alertsData(r)})
}

// alertsSave sets an org's webhook and budget thresholds.
func (s *Console) alertsSave(w http.ResponseWriter, r *http.Request) {
	_, err := s.ops.UpdatePolicy(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "org"), func() (ops.PolicyPatch, error) {
		url := strings.TrimSpace(r.PostFormValue("webhook_url"))
		a := &ops.AlertsPatch{WebhookURL: &url}
		if sec := r.PostFormValue("webhook_secret"); sec != "" {
			a.SetSecret, a.Secret = true, sec
		}
		var th []int
		for _, v := range strings.Split(r.PostFormValue("budget_thresholds"), ",") {
			if v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "%")); v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return ops.PolicyPatch{}, web.BadRequest("alerts.budget_thresholds", "alerts.budget_thresholds: percents such as 50, 80, 100")
			}
			th = append(th, n)
		}
		a.BudgetThresholds = &th
		return ops.PolicyPatch{Alerts: a}, nil
	})
	if err != nil {
		w.WriteHeader(web.ToAPIError(err).Status)
		s.render(w, r, "alerts", page{Active: "alerts", Data: s.alertsData(r), Error: consoleError(langOf(r), err)})
		return
	}
	http.Redirect(w, r, "/alerts", http.StatusSeeOther)
}
