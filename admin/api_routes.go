package admin

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tensorgate/tensorgate/admin/ops"
	"github.com/tensorgate/tensorgate/fsm"
)

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) error {
	view := s.d.Viewer.View()
	out := []*fsm.Route{}
	for _, rt := range view.Routes {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b *fsm.Route) int { return strings.Compare(a.Model, b.Model) })
	writeJSON(w, http.StatusOK, list[*fsm.Route]{Data: out})
	return nil
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) error {
	m := chi.URLParam(r, "model")
	rt, ok := s.d.Viewer.View().Routes[m]
	if !ok {
		return notFoundErr("route " + m + " not found")
	}
	writeJSON(w, http.StatusOK, rt)
	return nil
}

type routeRequest struct {
	Strategy string       `json:"strategy"`
	Targets  []fsm.Target `json:"targets"`
}

// readRoute reads the body once the operation asks for it.
func readRoute(w http.ResponseWriter, r *http.Request) ops.Input[ops.RoutePatch] {
	return func() (ops.RoutePatch, error) {
		var req routeRequest
		err := decodeJSON(w, r, &req)
		return ops.RoutePatch(req), err
	}
}

func (s *Server) putRoute(w http.ResponseWriter, r *http.Request) error {
	res, err := s.ops.PutRoute(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "model"), readRoute(w, r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) deleteRoute(w http.ResponseWriter, r *http.Request) error {
	if err := s.ops.DeleteRoute(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "model")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// priceFields are the API's price fields.
var priceFields = ops.PriceFields

type priceJSON struct {
	Model     string            `json:"model"`
	Currency  string            `json:"currency"`
	Prices    map[string]string `json:"prices"`
	UpdatedAt time.Time         `json:"updated_at"`
	Version   uint64            `json:"version"`
}

func toPriceJSON(p *fsm.Price) priceJSON {
	out := priceJSON{Model: p.Model, Currency: p.Currency, Prices: map[string]string{}, UpdatedAt: p.UpdatedAt, Version: p.Version}
	for _, f := range priceFields {
		if rate, ok := p.Rates[f.Unit]; ok {
			out.Prices[f.Field] = fsm.FormatDecimal(rate, f.Scale)
		}
	}
	return out
}

func (s *Server) listPrices(w http.ResponseWriter, r *http.Request) error {
	view := s.d.Viewer.View()
	out := []priceJSON{}
	for _, m := range slices.Sorted(maps.Keys(view.Prices)) {
		out = append(out, toPriceJSON(view.Prices[m]))
	}
	writeJSON(w, http.StatusOK, list[priceJSON]{Data: out})
	return nil
}

func (s *Server) getPrice(w http.ResponseWriter, r *http.Request) error {
	m := chi.URLParam(r, "model")
	p, ok := s.d.Viewer.View().Prices[m]
	if !ok {
		return notFoundErr("no price for model " + m)
	}
	writeJSON(w, http.StatusOK, toPriceJSON(p))
	return nil
}

type priceRequest struct {
	Currency string            `json:"currency"`
	Prices   map[string]string `json:"prices"`
}

// putPrice sets a model's prices: {"currency":"CNY","prices":
// {"prompt_per_1m_tokens":"0.8","completion_per_1m_tokens":"2"}}. Amounts
// are decimal strings; they are stored as integers, never floats.
func (s *Server) putPrice(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ops.PutPrice(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "model"), func() (ops.PricePatch, error) {
		var req priceRequest
		err := decodeJSON(w, r, &req)
		return ops.PricePatch(req), err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPriceJSON(p))
	return nil
}

func (s *Server) deletePrice(w http.ResponseWriter, r *http.Request) error {
	if err := s.ops.DeletePrice(r.Context(), principalFrom(r.Context()).caller(), chi.URLParam(r, "model")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
