package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// LeaseRef names one lease of one limit.
type LeaseRef struct {
	Key   string
	Lease uint64
}

// Record is this node's durable record of what its requests spent (the
// event outbox): every answered request's entry names the leases it
// spent from (Settle's Spends), and is stored before the answer ends.
type Record interface {
	// Mark is where the record stands: its id and the position its next
	// entry takes.
	Mark() fsm.RecordMark
	// Spent sums what the entries from position from on spent, by lease,
	// and says from which position on the record still holds every entry
	// (at most from when nothing is missing; entries before that were
	// trimmed, or the scan stopped at its bound).
	Spent(from uint64) (spent map[LeaseRef]int64, whole uint64, err error)
}

// mark is where the record stands as a sync is built: a lease the sync
// creates is spent only by requests recorded after it.
func (m *Manager) mark() *fsm.RecordMark {
	if m.cfg.Record == nil {
		return nil
	}
	mk := m.cfg.Record.Mark()
	return &mk
}

// recount settles, before this node's first sync, the leases the
// cluster has it holding or wrote off (rule 6): it lost what it knew of
// them when it stopped, but its record shows what requests spent of each,
// so it tells the cluster that, and the rest returns. A lease whose
// record is gone (the data dir was lost, or events were trimmed) is not
// refunded: a written-off one stays written off, a held one ends counted
// as spent. It reports whether the node may go on syncing.
func (m *Manager) recount(ctx context.Context) bool {
	if m.cfg.Record == nil || m.cfg.State == nil {
		return true
	}
	if m.recountCmd == nil {
		if m.cfg.Ready != nil && !m.cfg.Ready() {
			return false // the cluster may hold leases this node has not seen yet
		}
		items, err := m.recountItems()
		if err != nil {
			m.log.Warn("read the spend record to settle this node's leases", "err", err)
			return false
		}
		if len(items) == 0 {
			return true
		}
		var id [8]byte
		_, _ = rand.Read(id[:])
		// TTL only satisfies validation: the command grants nothing.
		m.recountCmd = &fsm.Command{Type: fsm.TypeQuotaSync, ID: "r" + hex.EncodeToString(id[:]), Time: m.cfg.Now(),
			Body: fsm.QuotaSyncBody{Node: m.cfg.Node, TTL: m.cfg.TTL, Items: items}}
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := m.apply.Apply(actx, *m.recountCmd)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("settle this node's leases from before it started", "err", err)
		}
		return false
	}
	m.log.Info("settled this node's leases from before it started", "leases", len(m.recountCmd.Body.(fsm.QuotaSyncBody).Items))
	m.recountCmd = nil
	return true
}

// recountItems builds the recount of every lease the replicated state
// has this node holding or wrote off.
func (m *Manager) recountItems() ([]fsm.QuotaSyncItem, error) {
	st := m.cfg.State.View()
	if st.Meta.LogVersion < fsm.LogVersionQuotaLeases {
		// Some server applies syncs as builds before lease ids do: a
		// recount would count as a fresh report of everything the leases
		// ever spent. Leases run out as they did then.
		return nil, nil
	}
	now := m.cfg.Now()
	if now.Before(st.QuotaClock) {
		now = st.QuotaClock
	}
	held := st.LeasesOf(m.cfg.Node, now)
	if len(held) == 0 {
		return nil, nil
	}
	mark := m.cfg.Record.Mark()
	from := mark.Seq
	for _, h := range held {
		if mk := h.Lease.Mark; mk != nil && mk.ID == mark.ID {
			from = min(from, mk.Seq)
		}
	}
	spent, whole, err := m.cfg.Record.Spent(from)
	if err != nil {
		return nil, err
	}
	var items []fsm.QuotaSyncItem
	for _, h := range held {
		_, _, kind, _ := fsm.ParseQuotaKey(h.Key)
		it := fsm.QuotaSyncItem{Key: h.Key, Lease: h.Lease.ID, Recount: true}
		mk := h.Lease.Mark
		switch {
		case kind == fsm.KindConcurrency:
			// Slots: none is in use on a node that just started.
		case h.Lease.ID != 0 && mk != nil && mk.ID == mark.ID && (mk.Seq >= whole || mk.Seq >= mark.Seq):
			it.Spent = spent[LeaseRef{h.Key, h.Lease.ID}]
		case h.WrittenOff:
			m.log.Warn("no record of what a lease written off while this node was down paid for; it stays counted as spent",
				"quota", h.Key, "lease", h.Lease.ID, "units", h.Lease.Units)
			continue
		default:
			// Held, with no record: it ends counted as spent.
			it.Spent = h.Lease.Reported + h.Lease.Units
		}
		items = append(items, it)
	}
	return items, nil
}
