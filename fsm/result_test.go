package fsm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

// raftLike applies commands to an FSM the way raft does, at increasing
// indexes.
type raftLike struct {
	t     *testing.T
	f     *fsm.FSM
	index uint64
}

func (r *raftLike) apply(c fsm.Command) (any, error) {
	r.t.Helper()
	data, err := c.Encode()
	if err != nil {
		r.t.Fatal(err)
	}
	r.index++
	res := r.f.Apply(&raft.Log{Index: r.index, Type: raft.LogCommand, Data: data})
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

// TestEveryCommandAnswersOneType: for every command type this build
// applies, the leader (the handler's own value), a follower (the leader's
// answer decoded) and a retry of the same command id (the dedupe table,
// before and after a snapshot) answer the type registered with the
// handler, with the same encoding. A type without a sample fails here.
func TestEveryCommandAnswersOneType(t *testing.T) {
	samples := fsmtest.Samples()
	sampled := map[fsm.MessageType]bool{}
	for _, s := range samples {
		sampled[s.Command.Type] = true
	}
	for _, typ := range fsm.Types() {
		if !sampled[typ] {
			t.Errorf("command type %d has no sample in fsmtest.Samples", typ)
		}
	}
	for _, s := range samples {
		if bt, _ := fsm.BodyType(s.Command.Type); reflect.TypeOf(s.Command.Body) != bt {
			t.Errorf("type %d: the sample's body is a %T, want %v", s.Command.Type, s.Command.Body, bt)
		}
	}
	leader := &raftLike{t: t, f: fsm.New()}
	check := func(what string, typ fsm.MessageType, res any, want []byte) {
		t.Helper()
		rt, ok := fsm.ResultType(typ)
		if !ok {
			t.Fatalf("type %d: no result type registered", typ)
		}
		if got := reflect.TypeOf(res); got != rt {
			t.Errorf("type %d, %s: got %v, want %v", typ, what, got, rt)
		}
		if rt.Kind() != reflect.Pointer || reflect.ValueOf(res).IsNil() {
			t.Errorf("type %d, %s: got %#v, want a non-nil pointer", typ, what, res)
		}
		if enc, err := fsm.EncodeResult(res); err != nil || !bytes.Equal(enc, want) {
			t.Errorf("type %d, %s: encoded as %s (%v), want %s", typ, what, enc, err, want)
		}
	}
	encoded := map[fsm.MessageType][]byte{}
	for _, s := range samples {
		typ := s.Command.Type
		for _, c := range s.Setup {
			if _, err := leader.apply(c); err != nil {
				t.Fatalf("type %d: setup command %d: %v", typ, c.Type, err)
			}
		}
		first, err := leader.apply(s.Command)
		if err != nil {
			t.Fatalf("type %d: sample rejected: %v", typ, err)
		}
		enc, err := fsm.EncodeResult(first)
		if err != nil {
			t.Fatal(err)
		}
		encoded[typ] = enc
		check("leader", typ, first, enc)
		follower, err := fsm.DecodeResult(typ, enc)
		if err != nil {
			t.Fatalf("type %d: decode the leader's answer: %v", typ, err)
		}
		check("follower", typ, follower, enc)
		index := leader.f.View().Index
		again, err := leader.apply(s.Command)
		if err != nil {
			t.Fatalf("type %d: retry: %v", typ, err)
		}
		check("retry", typ, again, enc)
		if got := leader.f.View().Index; got != index {
			t.Errorf("type %d: the retry was applied (state index %d, want %d)", typ, got, index)
		}
	}
	snap, err := fsmtest.SnapshotBytes(leader.f)
	if err != nil {
		t.Fatal(err)
	}
	restored := &raftLike{t: t, f: fsm.New(), index: leader.index}
	if err := restored.f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		res, err := restored.apply(s.Command)
		if err != nil {
			t.Fatalf("type %d: retry after a restore: %v", s.Command.Type, err)
		}
		check("retry after a restore", s.Command.Type, res, encoded[s.Command.Type])
	}
}

// applierFunc is an fsm.Applier.
type applierFunc func(context.Context, fsm.Command) (any, error)

func (f applierFunc) Apply(ctx context.Context, c fsm.Command) (any, error) { return f(ctx, c) }

func TestProposeAnswersTypedValuesAndErrors(t *testing.T) {
	b := fsmtest.New(t)
	calls := 0
	a := applierFunc(func(ctx context.Context, c fsm.Command) (any, error) {
		calls++
		return b.Commit(ctx, c)
	})
	ctx := context.Background()
	org := fsm.Command{Type: fsm.TypeOrgUpsert, Body: fsm.OrgUpsertBody{Org: fsm.Org{ID: "o2", Name: "two"}, Create: true}}
	o, err := fsm.Propose[fsm.Org](ctx, a, org)
	if err != nil || o.ID != "o2" {
		t.Fatalf("got %#v, %v, want org o2", o, err)
	}
	// A wrong type is an error before anything is proposed.
	_, err = fsm.Propose[fsm.Key](ctx, a, fsm.Command{Type: fsm.TypeOrgDelete, Body: fsm.DeleteBody{ID: "o2"}})
	var rte *fsm.ResultTypeError
	if !errors.As(err, &rte) || rte.Type != fsm.TypeOrgDelete || rte.Want != "*fsm.Key" || rte.Got != "*fsm.NoResult" {
		t.Fatalf("got %v, want a *ResultTypeError for type %d", err, fsm.TypeOrgDelete)
	}
	if calls != 1 {
		t.Fatalf("got %d proposals, want 1", calls)
	}
	// So is a body of the wrong type; a pointer to the right one will do.
	_, err = fsm.Propose[fsm.NoResult](ctx, a, fsm.Command{Type: fsm.TypeOrgDelete, Body: fsm.OrgUpsertBody{}})
	var bte *fsm.BodyTypeError
	if !errors.As(err, &bte) || bte.Type != fsm.TypeOrgDelete || bte.Want != "fsm.DeleteBody" || bte.Got != "fsm.OrgUpsertBody" {
		t.Fatalf("got %v, want a *BodyTypeError for type %d", err, fsm.TypeOrgDelete)
	}
	if calls != 1 {
		t.Fatalf("got %d proposals, want 1", calls)
	}
	if _, err := fsm.Propose[fsm.Org](ctx, a, fsm.Command{Type: fsm.TypeOrgUpsert, Body: &fsm.OrgUpsertBody{Org: fsm.Org{ID: "o3", Name: "three"}, Create: true}}); err != nil {
		t.Fatal(err)
	}
	// Business-rule errors pass through.
	if _, err := fsm.Propose[fsm.Org](ctx, a, org); !fsm.IsCode(err, fsm.CodeConflict) {
		t.Fatalf("got %v, want a conflict", err)
	}
	if _, err := fsm.Propose[fsm.NoResult](ctx, a, fsm.Command{Type: fsm.TypeOrgDelete, Body: fsm.DeleteBody{ID: "o2"}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		res  any
		err  error
		want string
	}{
		{nil, nil, "fsm: apply answered <nil>, not *fsm.Org"},
		{fsm.Org{}, nil, "fsm: apply answered fsm.Org, not *fsm.Org"},
		{(*fsm.Org)(nil), nil, "fsm: apply answered *fsm.Org, not *fsm.Org"},
		{&fsm.Key{}, nil, "fsm: apply answered *fsm.Key, not *fsm.Org"},
		{&fsm.Org{}, errors.New("boom"), "boom"},
	} {
		got, err := fsm.ResultOf[fsm.Org](tc.res, tc.err)
		if err == nil || err.Error() != tc.want || got != nil {
			t.Errorf("ResultOf(%#v, %v): got %v, %v, want error %q", tc.res, tc.err, got, err, tc.want)
		}
	}
	if got, err := fsm.ResultOf[fsm.Org](&fsm.Org{ID: "x"}, nil); err != nil || got.ID != "x" {
		t.Errorf("got %v, %v, want org x", got, err)
	}
}
