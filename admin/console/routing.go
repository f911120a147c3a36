package console

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/admin/web"
	"github.com/tensorgate/tensorgate/fsm"
)

// routingData is the 路由与策略 page's data.
type routingData struct {
	Routes      []*fsm.Route
	Prices      []any
	PriceFields []string
	Policies    []policyView
	Strategies  []string
}

type policyView struct {
	Org    *fsm.Org
	Policy any
	// Allocation is the policy's allocation as the form writes it.
	Allocation string
	Manage     bool
}

func (s *Console) routingData(r *http.Request) routingData {
	p := principalFrom(r.Context())
	st := s.d.Viewer.View()
	d := routingData{Strategies: []string{fsm.StrategyPriority, fsm.StrategyWeighted, fsm.StrategyLeastLatency}}
	for _, f := range ops.PriceFields {
		d.PriceFields = append(d.PriceFields, f.Field)
	}
	for _, m := range sortedKeysOf(st.Routes) {
		d.Routes = append(d.Routes, st.Routes[m])
	}
	for _, m := range sortedKeysOf(st.Prices) {
		d.Prices = append(d.Prices, s.d.API.PriceView(st.Prices[m]))
	}
	for _, o := range st.Orgs {
		if p.canRead(o.ID) {
			pol := s.ops.Policy(o.ID)
			var alloc []string
			for _, slug := range sortedKeysOf(pol.Allocation) {
				a := pol.Allocation[slug]
				alloc = append(alloc, fmt.Sprintf("%s:%d:%d", slug, a.SharePercent, a.Concurrency))
			}
			d.Policies = append(d.Policies, policyView{Org: o, Policy: s.d.API.PolicyView(pol), Allocation: strings.Join(alloc, "\n"), Manage: p.canManage(o.ID)})
		}
	}
	slices.SortFunc(d.Policies, func(a, b policyView) int { return strings.Compare(a.Org.Name, b.Org.Name) })
	return d
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Console) routingPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "routing", page{Active: "routing", Data: s.routingData(r)})
}

// routingResult shows the page again after an action (see afterAction).
func (s *Console) routingResult(w http.ResponseWriter, r *http.Request, err error) {
	s.afterAction(w, r, "routing", func() any { return s.routingData(r) }, err)
}

// routesSave reads "provider:model:weight" lines into a route.
func (s *Console) routesSave(w http.ResponseWriter, r *http.Request) {
	model := strings.TrimSpace(r.PostFormValue("model"))
	_, err := s.ops.PutRoute(r.Context(), principalFrom(r.Context()).caller(), model, func() (ops.RoutePatch, error) {
		req := ops.RoutePatch{Strategy: r.PostFormValue("strategy")}
		for _, line := range strings.Split(r.PostFormValue("targets"), "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			parts := strings.Split(line, ":")
			t := fsm.Target{Provider: strings.TrimSpace(parts[0])}
			if len(parts) > 1 {
				t.Model = strings.TrimSpace(parts[1])
			}
			if len(parts) > 2 {
				var err error
				if t.Weight, err = strconv.Atoi(strings.TrimSpace(parts[2])); err != nil {
					return req, web.BadRequest("targets", "targets: a weight must be a whole number: "+line)
				}
			}
			req.Targets = append(req.Targets, t)
		}
		return req, nil
	})
	s.routingResult(w, r, err)
}

func (s *Console) pricesSave(w http.ResponseWriter, r *http.Request) {
	req := ops.PricePatch{Currency: r.PostFormValue("currency"), Prices: map[string]string{}}
	for _, f := range ops.PriceFields {
		if v := strings.TrimSpace(r.PostFormValue(f.Field)); v != "" {
			req.Prices[f.Field] = v
		}
	}
	_, err := s.ops.PutPrice(r.Context(), principalFrom(r.Context()).caller(), strings.TrimSpace(r.PostFormValue("model")), ops.Given(req))
	s.routingResult(w, r, err)
}

// policySave applies the policy form of one org.
func (s *Console) policySave(w http.ResponseWriter, r *http.Request) {
	c := principalFrom(r.Context()).caller()
	_, err := s.ops.UpdatePolicy(r.Context(), c, chi.URLParam(r, "org"), func() (ops.PolicyPatch, error) {
		return policyForm(r, c.Super())
	})
	s.routingResult(w, r, err)
}

// policyForm reads an org's policy form. What the system grants the org
// (allowed providers, allocation, partition behaviour) is read only from
// a super admin's form: others see those fields disabled, and the API
// refuses them anyway.
func policyForm(r *http.Request, super bool) (ops.PolicyPatch, error) {
	f := func(k string) *string { v := strings.TrimSpace(r.PostFormValue(k)); return &v }
	num := func(k string) (int, error) {
		v := strings.TrimSpace(r.PostFormValue(k))
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, web.BadRequest(k, k+": must be a whole number")
		}
		return n, nil
	}
	req := ops.PolicyPatch{Strategy: f("strategy")}
	req.Overflow = &fsm.Overflow{Mode: strings.TrimSpace(r.PostFormValue("overflow_mode")), Pool: strings.TrimSpace(r.PostFormValue("overflow_pool"))}
	var b fsm.Breaker
	for field, dst := range map[string]*int{"consecutive_failures": &b.ConsecutiveFailures, "error_rate_percent": &b.ErrorRatePercent,
		"window_seconds": &b.WindowSeconds, "cooldown_seconds": &b.CooldownSeconds, "half_open_probes": &b.HalfOpenProbes} {
		n, err := num("breaker_" + field)
		if err != nil {
			return req, err
		}
		*dst = n
	}
	req.Breaker = &b
	alerts := &ops.AlertsPatch{WebhookURL: f("webhook_url")}
	if sec := r.PostFormValue("webhook_secret"); sec != "" {
		alerts.SetSecret, alerts.Secret = true, sec
	}
	req.Alerts = alerts
	if !super {
		return req, nil
	}
	req.Partition = f("partition")
	var allowed []string
	for _, a := range strings.Split(r.PostFormValue("allowed_providers"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			allowed = append(allowed, a)
		}
	}
	req.AllowedProviders = &allowed
	n, err := num("fail_open_seconds")
	if err != nil {
		return req, err
	}
	req.FailOpenSeconds = &n
	alloc := map[string]fsm.Allocation{}
	for _, line := range strings.Split(r.PostFormValue("allocation"), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		parts := strings.Split(line, ":")
		var a fsm.Allocation
		var errs [2]error
		if len(parts) == 3 {
			a.SharePercent, errs[0] = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(parts[1], "%")))
			a.Concurrency, errs[1] = strconv.Atoi(strings.TrimSpace(parts[2]))
		}
		if len(parts) != 3 || errs[0] != nil || errs[1] != nil {
			return req, web.BadRequest("allocation", "allocation: each line is provider:share%:concurrency, such as dashscope:80:20")
		}
		alloc[strings.TrimSpace(parts[0])] = a
	}
	req.Allocation = &alloc
	return req, nil
}
