package fsm

import (
	"encoding/json"
	"fmt"
)

// dedupeWindow is how many recent command ids the fsm remembers. A proposer
// that lost track of a command (leadership lost mid-apply) re-proposes it
// with the same id within seconds; the window covers that many times over.
const dedupeWindow = 4096

// applied records a command id that was applied successfully, and its
// result, so a re-proposal of the same id answers the same result without
// applying twice.
type applied struct {
	ID     string          `json:"id"`
	Index  uint64          `json:"index"`
	Type   MessageType     `json:"type"`
	Result json.RawMessage `json:"result,omitempty"`
}

// dedupe is a FIFO of recently applied ids. It lives beside the immutable
// State, touched only under FSM.mu, and travels in snapshots so every node
// deduplicates identically.
type dedupe struct {
	byID  map[string]*applied
	order []*applied // oldest first
}

func newDedupe() *dedupe { return &dedupe{byID: map[string]*applied{}} }

func (d *dedupe) lookup(id string) (*applied, bool) {
	a, ok := d.byID[id]
	return a, ok
}

func (d *dedupe) add(a *applied) {
	if a.ID == "" {
		return
	}
	d.byID[a.ID] = a
	d.order = append(d.order, a)
	for len(d.order) > dedupeWindow {
		delete(d.byID, d.order[0].ID)
		d.order[0] = nil
		d.order = d.order[1:]
	}
}

func (d *dedupe) clone() []*applied {
	out := make([]*applied, len(d.order))
	copy(out, d.order)
	return out
}

// resultTypes gives, for each command type with a result, a fresh value to
// decode that result into. Commands not listed answer nil.
var resultTypes = map[MessageType]func() any{
	TypeBootstrap:      func() any { return new(BootstrapResult) },
	TypeOrgUpsert:      func() any { return new(Org) },
	TypeUserUpsert:     func() any { return new(User) },
	TypeKeyUpsert:      func() any { return new(Key) },
	TypeKeyDelete:      func() any { return new(Key) },
	TypeProviderUpsert: func() any { return new(Provider) },
	TypeRouteUpsert:    func() any { return new(Route) },
	TypePriceUpsert:    func() any { return new(Price) },
	TypePolicyUpsert:   func() any { return new(Policy) },
	TypeQuotaSync:      func() any { return new([]QuotaGrant) },
	TypeUsageAdd:       func() any { return new(UsageAddResult) },
}

// EncodeResult renders an apply result for the wire (leader forwarding) or
// the dedupe table.
func EncodeResult(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode apply result: %w", err)
	}
	return b, nil
}

// DecodeResult is EncodeResult's inverse for a command type. Results come
// back as the same types Apply returns (pointers to records, or values).
func DecodeResult(t MessageType, b []byte) (any, error) {
	mk, ok := resultTypes[t&^IgnoreUnknown]
	if !ok || len(b) == 0 {
		return nil, nil
	}
	v := mk()
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode apply result of type %d: %w", t, err)
	}
	if br, ok := v.(*BootstrapResult); ok {
		return *br, nil
	}
	return v, nil
}
