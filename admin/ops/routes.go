package ops

import (
	"context"
	"slices"
	"strings"

	"github.com/tensorgate/tensorgate/fsm"
)

// RoutePatch is a model's route as a request states it.
type RoutePatch struct {
	Strategy string
	Targets  []fsm.Target
}

// PutRoute sets a model's route (super admins only); the strategy
// defaults to priority.
func (o *Ops) PutRoute(ctx context.Context, c Caller, model string, in Input[RoutePatch]) (*fsm.Route, error) {
	o.begin(RoutePut)
	if err := c.RequireSuper(); err != nil {
		return nil, err
	}
	req, err := in()
	if err != nil {
		return nil, err
	}
	rt := fsm.Route{Model: model, Strategy: req.Strategy, Targets: req.Targets}
	if rt.Strategy == "" {
		rt.Strategy = fsm.StrategyPriority
	}
	if err := rt.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Route](ctx, o, fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: rt})
	if err != nil {
		return nil, err
	}
	o.audit(c, "route set", "model", model, "strategy", rt.Strategy, "targets", len(rt.Targets))
	return res, nil
}

// DeleteRoute removes a model's route (super admins only).
func (o *Ops) DeleteRoute(ctx context.Context, c Caller, model string) error {
	o.begin(RouteDelete)
	if err := c.RequireSuper(); err != nil {
		return err
	}
	if _, err := proposeFor[fsm.NoResult](ctx, o, fsm.TypeRouteDelete, fsm.DeleteBody{ID: model}); err != nil {
		return err
	}
	o.audit(c, "route deleted", "model", model)
	return nil
}

// PriceField maps a price's request field to its unit and to the number
// of decimal places that make the stored rate (micro-units per million
// units) exact.
type PriceField struct {
	Field string
	Unit  string
	Scale int
}

// PriceFields are the prices a model may have: one per billing unit
// (fsm.Units), in its order.
var PriceFields = func() []PriceField {
	out := make([]PriceField, 0, fsm.NumUnits)
	for _, u := range fsm.Units {
		out = append(out, PriceField{u.PriceField, u.Rate, u.Scale})
	}
	return out
}()

func priceFieldNames() string {
	names := make([]string, len(PriceFields))
	for i, f := range PriceFields {
		names[i] = f.Field
	}
	return strings.Join(names, ", ")
}

// PricePatch is a model's prices as a request states them: decimal
// strings by PriceFields' names.
type PricePatch struct {
	Currency string
	Prices   map[string]string
}

// PutPrice sets a model's prices (super admins only). Amounts are decimal
// strings, stored as integers, never floats; the currency defaults to
// CNY.
func (o *Ops) PutPrice(ctx context.Context, c Caller, model string, in Input[PricePatch]) (*fsm.Price, error) {
	o.begin(PricePut)
	if err := c.RequireSuper(); err != nil {
		return nil, err
	}
	req, err := in()
	if err != nil {
		return nil, err
	}
	p := fsm.Price{Model: model, Currency: strings.ToUpper(req.Currency), Rates: map[string]int64{}}
	if p.Currency == "" {
		p.Currency = "CNY"
	}
	if len(req.Prices) == 0 {
		return nil, Invalid("prices", "prices: must set at least one of "+priceFieldNames())
	}
	for name, v := range req.Prices {
		i := slices.IndexFunc(PriceFields, func(f PriceField) bool { return f.Field == name })
		if i < 0 {
			return nil, Invalid("prices."+name, "prices: unknown price "+name+"; use "+priceFieldNames())
		}
		rate, err := fsm.ParseDecimal(v, PriceFields[i].Scale)
		if err != nil {
			return nil, Invalid("prices."+name, "prices."+name+": "+err.Error())
		}
		p.Rates[PriceFields[i].Unit] = rate
	}
	if err := p.Validate(); err != nil {
		return nil, err // an *fsm.Error naming the field
	}
	res, err := proposeFor[fsm.Price](ctx, o, fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: p})
	if err != nil {
		return nil, err
	}
	o.audit(c, "price set", "model", model, "currency", p.Currency)
	return res, nil
}

// DeletePrice removes a model's prices (super admins only).
func (o *Ops) DeletePrice(ctx context.Context, c Caller, model string) error {
	o.begin(PriceDelete)
	if err := c.RequireSuper(); err != nil {
		return err
	}
	if _, err := proposeFor[fsm.NoResult](ctx, o, fsm.TypePriceDelete, fsm.DeleteBody{ID: model}); err != nil {
		return err
	}
	o.audit(c, "price deleted", "model", model)
	return nil
}
