package gateway

import (
	"encoding/json"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/quota"
	"github.com/tensorgate/tensorgate/storage/event"
)

// EventLog is the node's event outbox as the spend record reads it.
type EventLog interface {
	ID() string
	Next() uint64
	ScanBack(before uint64, fn func(seq uint64, data []byte) bool) error
}

// maxSpendScan bounds the events a recount reads back: far more than the
// outbox keeps shipped, so only a backlog of unshipped events that long
// stops it (and then leases from before are not refunded).
const maxSpendScan = 2_000_000

// SpendRecord reads what requests spent of each lease back from the
// events the gateway stored: the durable record the quota manager
// settles its leases with after a restart.
type SpendRecord struct{ Log EventLog }

var _ quota.Record = SpendRecord{}

// Mark is where the outbox stands.
func (r SpendRecord) Mark() fsm.RecordMark { return fsm.RecordMark{ID: r.Log.ID(), Seq: r.Log.Next()} }

// Spent sums the spends of the events from seq from on, newest first.
func (r SpendRecord) Spent(from uint64) (map[quota.LeaseRef]int64, uint64, error) {
	spent := map[quota.LeaseRef]int64{}
	whole, n := r.Log.Next(), 0
	var ev struct {
		Spends []event.Spend `json:"spends"`
	}
	err := r.Log.ScanBack(0, func(seq uint64, data []byte) bool {
		if seq < from {
			whole = from // every event from there on was read
			return false
		}
		if n >= maxSpendScan {
			return false // whole stays the oldest read
		}
		whole, n = seq, n+1
		ev.Spends = ev.Spends[:0]
		if json.Unmarshal(data, &ev) != nil {
			return true // not an event of ours; it spent nothing
		}
		for _, sp := range ev.Spends {
			spent[quota.LeaseRef{Key: sp.Key, Lease: sp.Lease}] += sp.Units
		}
		return true
	})
	return spent, whole, err
}
