package fsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Snapshot layout: the magic, one version byte, then records of
// (type byte, uvarint length, JSON), ending with recEnd.
//
// Stored in snapshots and backups: append only, never renumber.
const (
	recMeta     byte = 1
	recOrg      byte = 2
	recUser     byte = 3
	recKey      byte = 4
	recProvider byte = 5 // in resolution order
	recRoute    byte = 6
	recPrice    byte = 7
	recPolicy   byte = 8
	recIndex    byte = 9
	recApplied  byte = 10 // recently applied command ids, oldest first
	recQuota    byte = 11
	recQuotaClk byte = 12
	recUsage    byte = 13 // usage counters, days then hours
	recUsageMrk byte = 14
	recLastUsed byte = 15 // keys' last use
	recEnd      byte = 0xff
)

const (
	snapshotMagic   = "TGSNAP"
	snapshotVersion = 1
	// maxRecord bounds a single record so a corrupt length can't allocate
	// without limit.
	maxRecord = 64 << 20
)

// ErrBadSnapshot reports a snapshot that does not decode.
var ErrBadSnapshot = errors.New("fsm: bad snapshot")

// WriteSnapshot writes s in the snapshot format, in a deterministic order.
// This is the backup form: it leaves out the recently applied command ids,
// which only matter to the cluster that applied them.
func WriteSnapshot(w io.Writer, s *State) error {
	return writeSnapshot(w, s, nil)
}

func writeSnapshot(w io.Writer, s *State, applied []*applied) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(snapshotMagic)
	bw.WriteByte(snapshotVersion)
	var lenBuf [binary.MaxVarintLen64]byte
	put := func(t byte, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode snapshot record %d: %w", t, err)
		}
		bw.WriteByte(t)
		bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(b)))])
		_, err = bw.Write(b)
		return err
	}
	if err := put(recMeta, s.Meta); err != nil {
		return err
	}
	if err := put(recIndex, s.Index); err != nil {
		return err
	}
	for _, id := range sortedKeys(s.Orgs) {
		if err := put(recOrg, s.Orgs[id]); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(s.Users) {
		if err := put(recUser, s.Users[id]); err != nil {
			return err
		}
	}
	for _, id := range sortedCowKeys(s.keys) {
		if err := put(recKey, s.Key(id)); err != nil {
			return err
		}
	}
	for _, slug := range s.ProviderOrder {
		if err := put(recProvider, s.Providers[slug]); err != nil {
			return err
		}
	}
	for _, m := range sortedKeys(s.Routes) {
		if err := put(recRoute, s.Routes[m]); err != nil {
			return err
		}
	}
	for _, m := range sortedKeys(s.Prices) {
		if err := put(recPrice, s.Prices[m]); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(s.Policies) {
		if err := put(recPolicy, s.Policies[id]); err != nil {
			return err
		}
	}
	if !s.QuotaClock.IsZero() {
		if err := put(recQuotaClk, s.QuotaClock); err != nil {
			return err
		}
	}
	for _, k := range sortedCowKeys(s.quotas) {
		q, _ := s.quotas.Get(k)
		if err := put(recQuota, q); err != nil {
			return err
		}
	}
	for _, r := range s.usageRowsSorted() {
		if err := put(recUsage, r); err != nil {
			return err
		}
	}
	for _, stream := range sortedKeys(s.UsageMarks) {
		if err := put(recUsageMrk, usageMark{Stream: stream, Mark: s.UsageMarks[stream]}); err != nil {
			return err
		}
	}
	for _, id := range sortedCowKeys(s.lastUsed) {
		t, _ := s.lastUsed.Get(id)
		if err := put(recLastUsed, keyLastUsed{Key: id, Time: t}); err != nil {
			return err
		}
	}
	for _, a := range applied {
		if err := put(recApplied, a); err != nil {
			return err
		}
	}
	bw.WriteByte(recEnd)
	return bw.Flush()
}

// ReadSnapshot decodes a snapshot written by WriteSnapshot (or by raft).
func ReadSnapshot(r io.Reader) (*State, error) {
	s, _, err := readSnapshot(r)
	return s, err
}

func readSnapshot(r io.Reader) (*State, []*applied, error) {
	br := bufio.NewReader(r)
	head := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: not a tensorgate snapshot", ErrBadSnapshot)
	}
	if v := head[len(snapshotMagic)]; v != snapshotVersion {
		return nil, nil, fmt.Errorf("%w: unsupported version %d", ErrBadSnapshot, v)
	}
	s := emptyState()
	rs := &restoring{s: s, keys: s.keys.edit(), quotas: s.quotas.edit(), lastUsed: s.lastUsed.edit(), slots: slotEdits{}}
	var appliedList []*applied
	for {
		t, err := br.ReadByte()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
		}
		if t == recEnd {
			break
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxRecord {
			return nil, nil, fmt.Errorf("%w: record length", ErrBadSnapshot)
		}
		// Read through a limit rather than allocating n up front, so a
		// corrupt length can't claim memory the input doesn't back.
		b, err := io.ReadAll(io.LimitReader(br, int64(n)))
		if err != nil || uint64(len(b)) != n {
			return nil, nil, fmt.Errorf("%w: truncated record", ErrBadSnapshot)
		}
		if t == recApplied {
			var a applied
			if err := json.Unmarshal(b, &a); err != nil || a.ID == "" {
				return nil, nil, fmt.Errorf("%w: applied-command record", ErrBadSnapshot)
			}
			appliedList = append(appliedList, &a)
			continue
		}
		if err := rs.record(t, b); err != nil {
			return nil, nil, err
		}
	}
	rs.finish()
	s.rebuildIndexes()
	return s, appliedList, nil
}

// restoring is a State being read from a snapshot, with its copy-on-write
// maps open for writing until the end.
type restoring struct {
	s        *State
	keys     *cowEdit[string, *Key]
	quotas   *cowEdit[string, *Quota]
	lastUsed *cowEdit[string, int64]
	slots    slotEdits
}

// finish closes the maps and derives what the snapshot does not hold.
func (r *restoring) finish() {
	r.s.keys = r.keys.done()
	r.s.quotas = r.quotas.done()
	r.s.lastUsed = r.lastUsed.done()
	r.slots.done()
	for _, q := range r.s.quotas.All() {
		for _, l := range q.Leases {
			r.s.quotaExpiry = soonerExpiry(r.s.quotaExpiry, l.Expires)
		}
	}
}

func (r *restoring) record(t byte, b []byte) error {
	s := r.s
	var err error
	switch t {
	case recMeta:
		err = json.Unmarshal(b, &s.Meta)
	case recIndex:
		err = json.Unmarshal(b, &s.Index)
	case recOrg:
		_, err = readInto(b, s.Orgs, func(o *Org) string { return o.ID })
	case recUser:
		_, err = readInto(b, s.Users, func(u *User) string { return u.ID })
	case recKey:
		err = readIntoCow(b, r.keys, func(k *Key) string { return k.ID })
	case recProvider:
		var slug string
		if slug, err = readInto(b, s.Providers, func(p *Provider) string { return p.Slug }); err == nil {
			s.ProviderOrder = append(s.ProviderOrder, slug)
		}
	case recRoute:
		_, err = readInto(b, s.Routes, func(r *Route) string { return r.Model })
	case recPrice:
		_, err = readInto(b, s.Prices, func(p *Price) string { return p.Model })
	case recPolicy:
		_, err = readInto(b, s.Policies, func(p *Policy) string { return p.OrgID })
	case recQuota:
		err = readIntoCow(b, r.quotas, func(q *Quota) string { return q.Key })
	case recQuotaClk:
		err = json.Unmarshal(b, &s.QuotaClock)
	case recUsage:
		err = r.usageRow(b)
	case recUsageMrk:
		var m usageMark
		if err = json.Unmarshal(b, &m); err == nil && m.Stream == "" {
			err = errors.New("usage mark without stream")
		}
		if err == nil {
			if s.UsageMarks == nil {
				s.UsageMarks = map[string]uint64{}
			}
			s.UsageMarks[m.Stream] = m.Mark
		}
	case recLastUsed:
		var l keyLastUsed
		if err = json.Unmarshal(b, &l); err == nil && l.Key == "" {
			err = errors.New("last use without key")
		}
		if err == nil {
			r.lastUsed.Set(l.Key, l.Time)
		}
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrBadSnapshot, t)
	}
	if err != nil {
		return fmt.Errorf("%w: record type %d: %v", ErrBadSnapshot, t, err)
	}
	return nil
}

// readInto decodes one record into m and returns its id.
func readInto[T any](b []byte, m map[string]*T, id func(*T) string) (string, error) {
	return readRecord(b, id, func(k string) bool { return m[k] != nil }, func(k string, v *T) { m[k] = v })
}

// readIntoCow is readInto for a copy-on-write map being restored.
func readIntoCow[T any](b []byte, m *cowEdit[string, *T], id func(*T) string) error {
	_, err := readRecord(b, id, func(k string) bool { _, ok := m.Get(k); return ok }, m.Set)
	return err
}

// readRecord decodes one record, refusing one without an id or whose id
// is already taken, stores it with set and returns its id.
func readRecord[T any](b []byte, id func(*T) string, has func(string) bool, set func(string, *T)) (string, error) {
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return "", err
	}
	k := id(v)
	if k == "" {
		return "", errors.New("record without id")
	}
	if has(k) {
		return "", fmt.Errorf("duplicate record %q", k)
	}
	set(k, v)
	return k, nil
}

func readSnapshotBytes(b []byte) (*State, error) {
	return ReadSnapshot(bytes.NewReader(b))
}
