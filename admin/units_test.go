package admin

import (
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// TestPriceOfEveryUnit sets a price in every billing unit's field through
// the API and reads each back as set.
func TestPriceOfEveryUnit(t *testing.T) {
	e := newEnv(t)
	prices := map[string]string{}
	for _, u := range fsm.Units {
		prices[u.PriceField] = "1.5"
	}
	r := e.do("PUT", "/api/admin/prices/m", e.token, map[string]any{"currency": "USD", "prices": prices})
	if r.status != 200 {
		t.Fatalf("price: %d %s", r.status, r.body)
	}
	got := e.fsm.View().Prices["m"]
	echo := r.json(t)["prices"].(map[string]any)
	for _, u := range fsm.Units {
		if rate, err := fsm.ParseDecimal("1.5", u.Scale); err != nil || got.Rates[u.Rate] != rate {
			t.Errorf("%s: stored rate %d, want %d (%v)", u.PriceField, got.Rates[u.Rate], rate, err)
		}
		if echo[u.PriceField] != "1.5" {
			t.Errorf("%s: answered %v, want 1.5", u.PriceField, echo[u.PriceField])
		}
	}
}
