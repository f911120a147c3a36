package fsm

import "encoding/json"

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
