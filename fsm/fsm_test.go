package fsm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/raft"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// harness applies commands to an FSM the way raft would.
type harness struct {
	t     *testing.T
	f     *FSM
	index uint64
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, f: New()}
}

func (h *harness) apply(typ MessageType, body any) (any, error) {
	h.t.Helper()
	h.index++
	data, err := Command{Type: typ, ID: fmt.Sprintf("cmd-%d", h.index), Time: t0.Add(time.Duration(h.index) * time.Second), Body: body}.Encode()
	if err != nil {
		h.t.Fatal(err)
	}
	res := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: data})
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

func (h *harness) mustApply(typ MessageType, body any) any {
	h.t.Helper()
	res, err := h.apply(typ, body)
	if err != nil {
		h.t.Fatalf("apply type %d: %v", typ, err)
	}
	return res
}

const adminHash = "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

func bootstrapBody() BootstrapBody {
	return BootstrapBody{
		Meta:  Meta{ClusterID: "c1"},
		Org:   Org{ID: "org1", Name: "default-org"},
		Admin: User{ID: "u1", Email: "admin@example.com", PasswordHash: adminHash, Role: RoleSuperAdmin, MustChangePassword: true},
		Providers: []Provider{
			{Slug: "dashscope", Name: "阿里云百炼", Format: FormatOpenAI, BaseURL: "https://dashscope.aliyuncs.com/compatible-mode", APIPath: "/v1/chat/completions", KeyEnv: "DASHSCOPE_API_KEY", Models: []string{"qwen-plus"}, Capabilities: []string{"llm"}, Enabled: true},
			{Slug: "deepseek", Name: "DeepSeek", Format: FormatOpenAI, BaseURL: "https://api.deepseek.com", APIPath: "/v1/chat/completions", KeyEnv: "DEEPSEEK_API_KEY", Models: []string{"deepseek-v4-pro"}, Capabilities: []string{"llm"}, Enabled: true},
		},
	}
}

const hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const hashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func testKey(id, hash string) Key {
	return Key{ID: id, OrgID: "org1", Name: "k " + id, Prefix: "gk_abcd", Hash: hash, Scopes: []string{"llm"}, Limits: Limits{RPM: 60, Budget: 10 * MicrosPerUnit, BudgetPeriod: PeriodMonthly}}
}

func TestBootstrapAppliesOnce(t *testing.T) {
	h := newHarness(t)
	res := h.mustApply(TypeBootstrap, bootstrapBody())
	if !res.(*BootstrapResult).Applied {
		t.Fatal("first bootstrap not applied")
	}
	second := bootstrapBody()
	second.Org.Name = "other"
	res = h.mustApply(TypeBootstrap, second)
	if res.(*BootstrapResult).Applied {
		t.Fatal("second bootstrap applied")
	}
	s := h.f.View()
	if got := s.Orgs["org1"].Name; got != "default-org" {
		t.Fatalf("org name %q, want default-org", got)
	}
	if got := strings.Join(s.ProviderOrder, ","); got != "dashscope,deepseek" {
		t.Fatalf("provider order %q", got)
	}
	if u, ok := s.UserByEmail("admin@example.com"); !ok || u.Role != RoleSuperAdmin {
		t.Fatalf("admin user missing: %+v", u)
	}
	if s.Meta.BootstrappedAt.IsZero() {
		t.Fatal("bootstrap time not recorded")
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name    string
		typ     MessageType
		body    any
		wantErr ErrorCode // empty means success
	}{
		{"org create", TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "org2", Name: "research"}, Create: true}, ""},
		{"org duplicate name", TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "org2", Name: "default-org"}, Create: true}, CodeConflict},
		{"org duplicate id", TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "org1", Name: "x"}, Create: true}, CodeConflict},
		{"org update missing", TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "nope", Name: "x"}}, CodeNotFound},
		{"org stale version", TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "org1", Name: "x"}, ExpectVersion: 99}, CodeConflict},
		{"org bad tz", TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "org2", Name: "x", TimeZone: "Mars/Base"}, Create: true}, CodeInvalid},
		{"org delete last", TypeOrgDelete, DeleteBody{ID: "org1"}, CodeConflict},
		{"org delete missing", TypeOrgDelete, DeleteBody{ID: "nope"}, CodeNotFound},
		{"key create", TypeKeyUpsert, KeyUpsertBody{Key: testKey("k1", hashA), Create: true}, ""},
		{"key unknown org", TypeKeyUpsert, KeyUpsertBody{Key: func() Key { k := testKey("k1", hashA); k.OrgID = "x"; return k }(), Create: true}, CodeNotFound},
		{"key bad scope", TypeKeyUpsert, KeyUpsertBody{Key: func() Key { k := testKey("k1", hashA); k.Scopes = []string{"video"}; return k }(), Create: true}, CodeInvalid},
		{"key bad period", TypeKeyUpsert, KeyUpsertBody{Key: func() Key { k := testKey("k1", hashA); k.Limits.BudgetPeriod = "weekly"; return k }(), Create: true}, CodeInvalid},
		{"key revoke missing", TypeKeyDelete, DeleteBody{ID: "k9"}, CodeNotFound},
		{"user create", TypeUserUpsert, UserUpsertBody{User: User{ID: "u2", Email: "ops@example.com", PasswordHash: adminHash, Role: RoleOrgAdmin, OrgID: "org1"}, Create: true}, ""},
		{"user duplicate email", TypeUserUpsert, UserUpsertBody{User: User{ID: "u2", Email: "admin@example.com", PasswordHash: adminHash, Role: RoleSuperAdmin}, Create: true}, CodeConflict},
		{"user org admin without org", TypeUserUpsert, UserUpsertBody{User: User{ID: "u2", Email: "x@example.com", PasswordHash: adminHash, Role: RoleOrgAdmin}, Create: true}, CodeInvalid},
		{"demote last super admin", TypeUserUpsert, UserUpsertBody{User: User{ID: "u1", Email: "admin@example.com", PasswordHash: adminHash, Role: RoleMember, OrgID: "org1"}}, CodeConflict},
		{"delete last super admin", TypeUserDelete, DeleteBody{ID: "u1"}, CodeConflict},
		{"provider create", TypeProviderUpsert, ProviderUpsertBody{Provider: Provider{Slug: "vllm", Name: "vLLM", Format: FormatOpenAI, BaseURL: "http://10.0.0.5:8000", APIPath: "/v1/chat/completions", Models: []string{"qwen3"}}, Create: true}, ""},
		{"provider base with /v1", TypeProviderUpsert, ProviderUpsertBody{Provider: Provider{Slug: "vllm", Name: "vLLM", Format: FormatOpenAI, BaseURL: "http://10.0.0.5:8000/v1", APIPath: "/v1/chat/completions"}, Create: true}, CodeInvalid},
		{"provider bad format", TypeProviderUpsert, ProviderUpsertBody{Provider: Provider{Slug: "vllm", Name: "vLLM", Format: "grpc", BaseURL: "http://h", APIPath: "/"}, Create: true}, CodeInvalid},
		{"provider duplicate", TypeProviderUpsert, ProviderUpsertBody{Provider: Provider{Slug: "deepseek", Name: "d", Format: FormatOpenAI, BaseURL: "http://h", APIPath: "/"}, Create: true}, CodeConflict},
		{"route", TypeRouteUpsert, RouteUpsertBody{Route: Route{Model: "chat", Strategy: StrategyPriority, Targets: []Target{{Provider: "dashscope", Model: "qwen-plus"}}}}, ""},
		{"route unknown provider", TypeRouteUpsert, RouteUpsertBody{Route: Route{Model: "chat", Strategy: StrategyPriority, Targets: []Target{{Provider: "nope", Model: "m"}}}}, CodeInvalid},
		{"route weighted without weight", TypeRouteUpsert, RouteUpsertBody{Route: Route{Model: "chat", Strategy: StrategyWeighted, Targets: []Target{{Provider: "dashscope", Model: "m"}}}}, CodeInvalid},
		{"route delete missing", TypeRouteDelete, DeleteBody{ID: "chat"}, CodeNotFound},
		{"price", TypePriceUpsert, PriceUpsertBody{Price: Price{Model: "qwen-plus", Currency: "CNY", Rates: map[string]int64{UnitPromptToken: 800000}}}, ""},
		{"price unknown unit", TypePriceUpsert, PriceUpsertBody{Price: Price{Model: "qwen-plus", Currency: "CNY", Rates: map[string]int64{"furlong": 1}}}, CodeInvalid},
		{"policy", TypePolicyUpsert, PolicyUpsertBody{Policy: Policy{OrgID: "org1", AllowedProviders: []string{"dashscope"}, Overflow: Overflow{Mode: OverflowSpill, Pool: "deepseek"}}}, ""},
		{"policy unknown provider", TypePolicyUpsert, PolicyUpsertBody{Policy: Policy{OrgID: "org1", AllowedProviders: []string{"nope"}}}, CodeInvalid},
		{"policy spill without pool", TypePolicyUpsert, PolicyUpsertBody{Policy: Policy{OrgID: "org1", Overflow: Overflow{Mode: OverflowSpill}}}, CodeInvalid},
		{"policy unknown org", TypePolicyUpsert, PolicyUpsertBody{Policy: Policy{OrgID: "nope"}}, CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustApply(TypeBootstrap, bootstrapBody())
			before := h.f.View()
			_, err := h.apply(tc.typ, tc.body)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if h.f.View().Index != h.index {
					t.Fatalf("state index %d, want %d", h.f.View().Index, h.index)
				}
				return
			}
			if !IsCode(err, tc.wantErr) {
				t.Fatalf("got %v, want code %s", err, tc.wantErr)
			}
			if h.f.View() != before {
				t.Fatal("a rejected command changed the state")
			}
		})
	}
}

func TestKeyLifecycle(t *testing.T) {
	h := newHarness(t)
	h.mustApply(TypeBootstrap, bootstrapBody())
	k := h.mustApply(TypeKeyUpsert, KeyUpsertBody{Key: testKey("k1", hashA), Create: true}).(*Key)
	view := h.f.View()
	sum, _ := hashKey(hashA)
	if got, ok := view.KeyByHash(sum); !ok || got.ID != "k1" || !got.Usable(t0) {
		t.Fatalf("KeyByHash = %+v, %v", got, ok)
	}
	if _, err := h.apply(TypeKeyUpsert, KeyUpsertBody{Key: testKey("k2", hashA), Create: true}); !IsCode(err, CodeConflict) {
		t.Fatalf("duplicate hash: got %v, want conflict", err)
	}
	upd := *k
	upd.Disabled = true
	h.mustApply(TypeKeyUpsert, KeyUpsertBody{Key: upd, ExpectVersion: k.Version})
	if got, _ := h.f.View().KeyByHash(sum); got.Usable(t0) {
		t.Fatal("disabled key still usable")
	}
	// The old view is untouched: readers holding it are never surprised.
	if got, _ := view.KeyByHash(sum); !got.Usable(t0) {
		t.Fatal("an older view changed under its reader")
	}
	if _, err := h.apply(TypeKeyUpsert, KeyUpsertBody{Key: upd, ExpectVersion: k.Version}); !IsCode(err, CodeConflict) {
		t.Fatalf("stale version: got %v, want conflict", err)
	}
	h.mustApply(TypeKeyDelete, DeleteBody{ID: "k1"})
	got, _ := h.f.View().KeyByHash(sum)
	if got.RevokedAt == nil || got.Usable(t0) {
		t.Fatalf("revoked key: %+v", got)
	}
	upd.Disabled = false
	if _, err := h.apply(TypeKeyUpsert, KeyUpsertBody{Key: upd}); !IsCode(err, CodeConflict) {
		t.Fatalf("re-enabling a revoked key: got %v, want conflict", err)
	}
	exp := t0.Add(time.Hour)
	k3 := testKey("k3", hashB)
	k3.ExpiresAt = &exp
	h.mustApply(TypeKeyUpsert, KeyUpsertBody{Key: k3, Create: true})
	got = h.f.View().Key("k3")
	if !got.Usable(t0) || got.Usable(exp) {
		t.Fatal("expiry not honoured")
	}
}

func TestProviderDeleteGuards(t *testing.T) {
	h := newHarness(t)
	h.mustApply(TypeBootstrap, bootstrapBody())
	h.mustApply(TypeRouteUpsert, RouteUpsertBody{Route: Route{Model: "chat", Strategy: StrategyPriority, Targets: []Target{{Provider: "deepseek", Model: "deepseek-v4-pro"}}}})
	if _, err := h.apply(TypeProviderDelete, DeleteBody{ID: "deepseek"}); !IsCode(err, CodeConflict) {
		t.Fatalf("deleting a routed provider: got %v, want conflict", err)
	}
	h.mustApply(TypeRouteDelete, DeleteBody{ID: "chat"})
	h.mustApply(TypeProviderDelete, DeleteBody{ID: "deepseek"})
	if got := h.f.View().ProviderOrder; len(got) != 1 || got[0] != "dashscope" {
		t.Fatalf("provider order after delete: %v", got)
	}
}

func TestUnknownCommands(t *testing.T) {
	h := newHarness(t)
	// A type flagged IgnoreUnknown is skipped.
	data, _ := Command{Type: 0x7f | IgnoreUnknown, Body: struct{}{}}.Encode()
	if res := h.f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}); res != nil {
		t.Fatalf("ignorable command answered %v", res)
	}
	mustPanic(t, "unknown type", func() {
		data, _ := Command{Type: 0x7f, Body: struct{}{}}.Encode()
		h.f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: data})
	})
	mustPanic(t, "garbage", func() {
		h.f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: []byte{1, 1, '{'}})
	})
	mustPanic(t, "wrong body shape", func() {
		data, _ := Command{Type: TypeOrgDelete, Body: []int{1}}.Encode()
		h.f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: data})
	})
	// Non-command entries are not the FSM's business.
	if res := h.f.Apply(&raft.Log{Index: 5, Type: raft.LogNoop}); res != nil {
		t.Fatalf("noop answered %v", res)
	}
}

func mustPanic(t *testing.T, name string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: no panic", name)
		}
	}()
	fn()
}

// populated returns an FSM with one of everything.
func populated(t *testing.T) *harness {
	h := newHarness(t)
	h.mustApply(TypeBootstrap, bootstrapBody())
	h.mustApply(TypeOrgUpsert, OrgUpsertBody{Org: Org{ID: "org2", Name: "research", TimeZone: "Europe/Berlin"}, Create: true})
	h.mustApply(TypeUserUpsert, UserUpsertBody{User: User{ID: "u2", Email: "ops@example.com", PasswordHash: adminHash, Role: RoleOrgAdmin, OrgID: "org2"}, Create: true})
	k := testKey("k1", hashA)
	k.Models = []string{"qwen-plus"}
	h.mustApply(TypeKeyUpsert, KeyUpsertBody{Key: k, Create: true})
	h.mustApply(TypeKeyUpsert, KeyUpsertBody{Key: testKey("k2", hashB), Create: true})
	h.mustApply(TypeKeyDelete, DeleteBody{ID: "k2"})
	h.mustApply(TypeProviderUpsert, ProviderUpsertBody{Provider: Provider{Slug: "claude", Name: "Claude", Format: FormatAnthropic, BaseURL: "https://api.anthropic.com", APIPath: "/v1/messages", APIKeyCipher: []byte{1, 2, 3}, Models: []string{"claude-x"}, Capabilities: []string{"llm"}, Enabled: true}, Create: true})
	h.mustApply(TypeRouteUpsert, RouteUpsertBody{Route: Route{Model: "chat", Strategy: StrategyWeighted, Targets: []Target{{Provider: "dashscope", Model: "qwen-plus", Weight: 3}, {Provider: "claude", Model: "claude-x", Weight: 1}}}})
	h.mustApply(TypePriceUpsert, PriceUpsertBody{Price: Price{Model: "qwen-plus", Currency: "CNY", Rates: map[string]int64{UnitPromptToken: 800000, UnitCompletionToken: 2000000}}})
	h.mustApply(TypePolicyUpsert, PolicyUpsertBody{Policy: Policy{OrgID: "org2", AllowedProviders: []string{"claude"}, OwnKeys: map[string][]byte{"claude": {9, 9}}, Limits: Limits{TPM: 1000}, Partition: PartitionFailOpen, FailOpenSeconds: 30}})
	return h
}

// stateCmp compares states by content: copy-on-write maps as the maps
// they hold, and without quotaExpiry, a bound that a live state may keep
// earlier than a restored one.
var stateCmp = cmp.Options{cmp.AllowUnexported(State{}, usageState{}, UsageSlot{}), cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(State{}, "quotaExpiry"),
	cmp.Transformer("keys", plainMap[string, *Key]),
	cmp.Transformer("keysByHash", plainMap[[32]byte, *Key]),
	cmp.Transformer("quotas", plainMap[string, *Quota]),
	cmp.Transformer("lastUsed", plainMap[string, int64]),
	cmp.Transformer("rows", plainMap[UsageDims, UsageCount])}

func plainMap[K comparable, V any](m cowMap[K, V]) map[K]V { return maps.Collect(m.All()) }

func TestSnapshotRoundTrip(t *testing.T) {
	h := populated(t)
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	f2 := New()
	if err := f2.Restore(sink.reader()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h.f.View(), f2.View(), stateCmp); diff != "" {
		t.Fatalf("restored state differs (-want +got):\n%s", diff)
	}
	sum, _ := hashKey(hashA)
	if _, ok := f2.View().KeyByHash(sum); !ok {
		t.Fatal("restored state lost the hash index")
	}
	// Snapshots are deterministic: the same state writes the same bytes.
	var a, b bytes.Buffer
	if err := WriteSnapshot(&a, h.f.View()); err != nil {
		t.Fatal(err)
	}
	if err := WriteSnapshot(&b, f2.View()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("snapshot of restored state differs from the original")
	}
}

func TestRestoreCommand(t *testing.T) {
	src := populated(t)
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, src.f.View()); err != nil {
		t.Fatal(err)
	}
	dst := newHarness(t)
	dst.mustApply(TypeBootstrap, bootstrapBody())
	dst.mustApply(TypeRestoreState, RestoreBody{Snapshot: buf.Bytes()})
	got := dst.f.View()
	if got.KeyCount() != 2 || got.Orgs["org2"] == nil || got.Providers["claude"] == nil {
		t.Fatalf("restore lost records: %d keys", got.KeyCount())
	}
	if _, err := dst.apply(TypeRestoreState, RestoreBody{Snapshot: []byte("junk")}); !IsCode(err, CodeInvalid) {
		t.Fatalf("junk snapshot: got %v, want invalid", err)
	}
}

// TestGoldenSnapshot restores the snapshot every release wrote, so a change
// that can't read old snapshots fails here. Run with -update only when adding
// a new release's file, never to paper over a failure.
func TestGoldenSnapshot(t *testing.T) {
	golden := filepath.Join("testdata", "snapshot-v1.bin")
	if *update {
		var buf bytes.Buffer
		if err := WriteSnapshot(&buf, populated(t).f.View()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden snapshot (run go test ./fsm -run Golden -update to create it): %v", err)
	}
	s, err := ReadSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("golden snapshot no longer restores: %v", err)
	}
	if diff := cmp.Diff(populated(t).f.View(), s, stateCmp); diff != "" {
		t.Fatalf("golden snapshot decodes differently (-want +got):\n%s", diff)
	}
}

func TestReadSnapshotErrors(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":      nil,
		"magic":      []byte("NOTSNAP\x01"),
		"version":    []byte("TGSNAP\x09"),
		"truncated":  []byte("TGSNAP\x01\x02\x05{}"),
		"record":     []byte("TGSNAP\x01\x02\x02{]\xff"),
		"unknown":    []byte("TGSNAP\x01\x77\x02{}\xff"),
		"no id":      []byte("TGSNAP\x01\x02\x02{}\xff"),
		"huge":       append([]byte("TGSNAP\x01\x02"), 0xff, 0xff, 0xff, 0xff, 0x7f),
		"no end tag": []byte("TGSNAP\x01"),
	} {
		if _, err := ReadSnapshot(bytes.NewReader(in)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: got %v, want ErrBadSnapshot", name, err)
		}
	}
}

func FuzzReadSnapshot(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteSnapshot(&buf, emptyState())
	f.Add(buf.Bytes())
	f.Add([]byte("TGSNAP\x01\x02\x0f{\"id\":\"o\"}\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ReadSnapshot(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteSnapshot(&out, s); err != nil {
			t.Fatalf("a decoded snapshot does not re-encode: %v", err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	data, _ := Command{Type: TypeOrgDelete, ID: "x", Time: t0, Body: DeleteBody{ID: "o"}}.Encode()
	f.Add(data)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		if c.Type != MessageType(b[0]) {
			t.Fatalf("type %d, want %d", c.Type, b[0])
		}
	})
}

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }
func (m *memSink) reader() *nopCloser {
	return &nopCloser{bytes.NewReader(m.Bytes())}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
