package admin

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
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

func (s *Server) putRoute(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	var req routeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := s.saveRoute(r.Context(), chi.URLParam(r, "model"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// saveRoute sets a model's route (the API and the console; the caller
// checked the role).
func (s *Server) saveRoute(ctx context.Context, model string, req routeRequest) (any, error) {
	rt := fsm.Route{Model: model, Strategy: req.Strategy, Targets: req.Targets}
	if rt.Strategy == "" {
		rt.Strategy = fsm.StrategyPriority
	}
	if err := rt.Validate(); err != nil {
		return nil, err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	return s.propose(ctx, fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: rt})
}

func (s *Server) deleteRoute(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	if _, err := s.propose(r.Context(), fsm.TypeRouteDelete, fsm.DeleteBody{ID: chi.URLParam(r, "model")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// priceFields maps each API field to its unit and to the number of decimal
// places that make the stored rate (micro-units per million units) exact.
type priceField struct {
	field string
	unit  string
	scale int
}

// priceFields are the price fields of the billing units (fsm.Units), in
// their order.
var priceFields = func() []priceField {
	out := make([]priceField, 0, fsm.NumUnits)
	for _, u := range fsm.Units {
		out = append(out, priceField{u.PriceField, u.Rate, u.Scale})
	}
	return out
}()

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
		if rate, ok := p.Rates[f.unit]; ok {
			out.Prices[f.field] = fsm.FormatDecimal(rate, f.scale)
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
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	var req priceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.savePrice(r.Context(), chi.URLParam(r, "model"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPriceJSON(p))
	return nil
}

// savePrice sets a model's prices (the API and the console; the caller
// checked the role).
func (s *Server) savePrice(ctx context.Context, model string, req priceRequest) (*fsm.Price, error) {
	p := fsm.Price{Model: model, Currency: strings.ToUpper(req.Currency), Rates: map[string]int64{}}
	if p.Currency == "" {
		p.Currency = "CNY"
	}
	if len(req.Prices) == 0 {
		return nil, badRequest("prices", "prices: must set at least one of "+priceFieldNames())
	}
	for name, v := range req.Prices {
		i := slices.IndexFunc(priceFields, func(f priceField) bool { return f.field == name })
		if i < 0 {
			return nil, badRequest("prices."+name, "prices: unknown price "+name+"; use "+priceFieldNames())
		}
		rate, err := fsm.ParseDecimal(v, priceFields[i].scale)
		if err != nil {
			return nil, badRequest("prices."+name, "prices."+name+": "+err.Error())
		}
		p.Rates[priceFields[i].unit] = rate
	}
	if err := p.Validate(); err != nil {
		return nil, err // an *fsm.Error: toAPIError answers 400 naming the field
	}
	res, err := s.propose(ctx, fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: p})
	if err != nil {
		return nil, err
	}
	return res.(*fsm.Price), nil
}

func priceFieldNames() string {
	names := make([]string, len(priceFields))
	for i, f := range priceFields {
		names[i] = f.field
	}
	return strings.Join(names, ", ")
}

func (s *Server) deletePrice(w http.ResponseWriter, r *http.Request) error {
	if err := principalFrom(r.Context()).requireSuper(); err != nil {
		return err
	}
	if _, err := s.propose(r.Context(), fsm.TypePriceDelete, fsm.DeleteBody{ID: chi.URLParam(r, "model")}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
