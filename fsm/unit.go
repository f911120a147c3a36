package fsm

// Unit is one thing requests are measured and billed in. Units is the one
// list of them: pricing, price validation, the usage counters, the sinks
// (Postgres and GreptimeDB), usage reports and the CSV export all iterate
// it rather than naming units one by one.
type Unit struct {
	// Name is the unit's figure wherever usage is encoded: the JSON field
	// of events, counters and usage reports, and the CSV export's column.
	Name string
	// Rate is the key of its rate in Price.Rates (stored in the raft log:
	// never rename).
	Rate string
	// PriceField is the admin API's price field, and Scale the decimal
	// places a price in it may have: the stored rate (micro-units per
	// million units) is the price times 10^Scale, exact.
	PriceField string
	Scale      int
	// Column is its column in Postgres: audit_events and every billing
	// rollup (billing_daily, billing_hourly, billing_key_*). A new unit
	// needs a migration adding it to them and to the rollup triggers.
	Column string
	// Series is its field in the GreptimeDB line of each request.
	Series string
	// Token marks a unit of tokens: they count against TPM limits and sum
	// to an event's total_tokens, written after them in GreptimeDB.
	Token bool
}

// Units lists every billing unit, in the order their figures are written
// (JSON, CSV, GreptimeDB). Append new units at the end.
var Units = [...]Unit{
	{Name: "prompt_tokens", Rate: UnitPromptToken, PriceField: "prompt_per_1m_tokens", Scale: 6,
		Column: "prompt_tokens", Series: "prompt_tokens", Token: true},
	{Name: "completion_tokens", Rate: UnitCompletionToken, PriceField: "completion_per_1m_tokens", Scale: 6,
		Column: "completion_tokens", Series: "completion_tokens", Token: true},
	{Name: "images", Rate: UnitImage, PriceField: "per_image", Scale: 12, Column: "images", Series: "images"},
	{Name: "seconds", Rate: UnitSecond, PriceField: "per_second", Scale: 12, Column: "seconds", Series: "seconds"},
	{Name: "pages", Rate: UnitPage, PriceField: "per_page", Scale: 12, Column: "pages", Series: "pages"},
	{Name: "characters", Rate: UnitCharacter, PriceField: "per_10k_characters", Scale: 8,
		Column: "characters", Series: "characters"},
}

// NumUnits is the length of Units.
const NumUnits = len(Units)

// Figures points at a record's figure of each unit, in the order of Units.
// Every struct that carries a figure per unit has a Figures method
// returning one, written as a [...]*int64 literal: with a unit added to
// Units, the build fails until each of them lists a field for it.
type Figures = [NumUnits]*int64

// UnitByRate returns the unit whose rate key is rate.
func UnitByRate(rate string) (Unit, bool) {
	for _, u := range Units {
		if u.Rate == rate {
			return u, true
		}
	}
	return Unit{}, false
}

// Figures returns c's figure of each unit.
func (c *UsageCount) Figures() Figures {
	return [...]*int64{&c.PromptTokens, &c.CompletionTokens, &c.Images, &c.Seconds, &c.Pages, &c.Characters}
}

// CostOf returns what figures cost at p: each unit's figure at its rate,
// added up.
func (p *Price) CostOf(f Figures) int64 {
	var cost int64
	for i, u := range Units {
		cost += Cost(p.Rates[u.Rate], *f[i])
	}
	return cost
}
