package fsmtest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
)

// Sample is one command that applies: Setup first (commands without ids),
// then Command, which carries an id so a retry of it is deduplicated.
type Sample struct {
	Setup   []fsm.Command
	Command fsm.Command
}

// SampleTime is the proposer time of every sample command.
var SampleTime = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// Samples gives one command of every type this build applies that
// succeeds, for tests that hold for each command type (every path answers
// its registered result type). They apply in order on one state that
// starts empty: the first is the bootstrap, the last a state restore.
// A command type added to fsm needs a sample here; the fsm tests fail for
// a registered type without one.
func Samples() []Sample {
	cmd := func(t fsm.MessageType, body any) fsm.Command {
		return fsm.Command{Type: t, Time: SampleTime, Body: body}
	}
	key := func(id, hash string) fsm.Key {
		return fsm.Key{ID: id, OrgID: "org1", Name: "sample " + id, Prefix: "gk_abcd", Hash: hash, Scopes: []string{"llm"},
			Limits: fsm.Limits{RPM: 60}}
	}
	user := fsm.User{ID: "sample-u", Email: "sample@example.com", PasswordHash: AdminHash, Role: fsm.RoleOrgAdmin, OrgID: "org1"}
	provider := fsm.Provider{Slug: "sample-p", Name: "sample", Format: fsm.FormatOpenAI, BaseURL: "http://10.0.0.5:8000",
		APIPath: "/v1/chat/completions", Models: []string{"m"}}
	route := fsm.Route{Model: "sample-chat", Strategy: fsm.StrategyPriority, Targets: []fsm.Target{{Provider: "sample-p", Model: "m"}}}
	price := fsm.Price{Model: "sample-m", Currency: "CNY", Rates: map[string]int64{fsm.UnitPromptToken: 800000}}
	hour := SampleTime.Truncate(time.Hour).Unix()
	out := []Sample{
		{Command: cmd(fsm.TypeBootstrap, bootstrapBody())},
		{Command: cmd(fsm.TypeLogVersion, fsm.LogVersionBody{Version: fsm.LogVersion})},
		{Command: cmd(fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: fsm.Org{ID: "sample-o", Name: "sample"}, Create: true})},
		{Setup: []fsm.Command{cmd(fsm.TypeOrgUpsert, fsm.OrgUpsertBody{Org: fsm.Org{ID: "sample-o2", Name: "sample2"}, Create: true})},
			Command: cmd(fsm.TypeOrgDelete, fsm.DeleteBody{ID: "sample-o2"})},
		{Command: cmd(fsm.TypeUserUpsert, fsm.UserUpsertBody{User: user, Create: true})},
		{Command: cmd(fsm.TypeUserDelete, fsm.DeleteBody{ID: "sample-u"})},
		{Command: cmd(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: key("sample-k", fmt.Sprintf("%064x", 0xa)), Create: true})},
		{Setup: []fsm.Command{cmd(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: key("sample-k2", fmt.Sprintf("%064x", 0xb)), Create: true})},
			Command: cmd(fsm.TypeKeyDelete, fsm.DeleteBody{ID: "sample-k2"})},
		{Command: cmd(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: provider, Create: true})},
		{Command: cmd(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: route})},
		{Command: cmd(fsm.TypeRouteDelete, fsm.DeleteBody{ID: "sample-chat"})},
		{Command: cmd(fsm.TypeProviderDelete, fsm.DeleteBody{ID: "sample-p"})},
		{Command: cmd(fsm.TypePriceUpsert, fsm.PriceUpsertBody{Price: price})},
		{Command: cmd(fsm.TypePriceDelete, fsm.DeleteBody{ID: "sample-m"})},
		{Command: cmd(fsm.TypePolicyUpsert, fsm.PolicyUpsertBody{Policy: fsm.Policy{OrgID: "org1"}})},
		{Command: cmd(fsm.TypeQuotaSync, fsm.QuotaSyncBody{Node: "sample-node", TTL: 10 * time.Second,
			Items: []fsm.QuotaSyncItem{{Key: fsm.QuotaKey(fsm.ScopeKey, "sample-k", fsm.KindRPM), Want: 5}}})},
		{Command: cmd(fsm.TypeUsageAdd, fsm.UsageAddBody{Stream: "sample-s", From: 1, To: 1, Rows: []fsm.UsageRow{{
			Start: hour, Span: 3600,
			UsageDims:  fsm.UsageDims{Org: "org1", Key: "sample-k", Model: "m", Capability: "llm", Provider: "p", Currency: "CNY"},
			UsageCount: fsm.UsageCount{Requests: 1, PromptTokens: 3},
		}}})},
		{Command: cmd(fsm.TypeRestoreState, fsm.RestoreBody{Snapshot: bootstrappedSnapshot()})},
	}
	for i := range out {
		out[i].Command.ID = fmt.Sprintf("sample-%d", out[i].Command.Type)
	}
	return out
}

func bootstrapBody() fsm.BootstrapBody {
	return fsm.BootstrapBody{
		Meta:  fsm.Meta{ClusterID: "c"},
		Org:   fsm.Org{ID: "org1", Name: "default-org"},
		Admin: fsm.User{ID: "u1", Email: "admin@example.com", PasswordHash: AdminHash, Role: fsm.RoleSuperAdmin},
	}
}

// bootstrappedSnapshot is the snapshot of a state that holds only a
// bootstrap.
func bootstrappedSnapshot() []byte {
	f := fsm.New()
	if _, err := f.ApplyCommand(1, fsm.Command{Type: fsm.TypeBootstrap, Time: SampleTime, Body: bootstrapBody()}); err != nil {
		panic(fmt.Sprintf("fsmtest: bootstrap a sample state: %v", err))
	}
	b, err := SnapshotBytes(f)
	if err != nil {
		panic(fmt.Sprintf("fsmtest: snapshot a sample state: %v", err))
	}
	return b
}

// SnapshotBytes is f's raft snapshot, as Restore reads it.
func SnapshotBytes(f *fsm.FSM) ([]byte, error) {
	snap, err := f.Snapshot()
	if err != nil {
		return nil, err
	}
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		return nil, err
	}
	return sink.Bytes(), nil
}

// bufSink is a raft.SnapshotSink in memory.
type bufSink struct{ bytes.Buffer }

func (s *bufSink) ID() string    { return "sample" }
func (s *bufSink) Cancel() error { return nil }
func (s *bufSink) Close() error  { return nil }
