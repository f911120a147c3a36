package gateway_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
	"github.com/tensorgate/tensorgate/gateway"
	"github.com/tensorgate/tensorgate/gateway/mockupstream"
	"github.com/tensorgate/tensorgate/storage/diskguard"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/secret"
)

const (
	openaiKey    = "sk-mock-openai-upstream"
	anthropicKey = "sk-ant-mock-upstream"
)

// env is a gateway in front of two mock upstreams, one per format, with
// state built by applying fsm commands directly.
type env struct {
	t      testing.TB
	f      *fsm.FSM
	b      *fsmtest.Builder
	sealer *secret.Sealer
	oa, an *mockupstream.Server
	oaURL  string
	anURL  string
	gw     *httptest.Server
	srv    *gateway.Server
	key    string // a key with every scope
	keyID  string
	rec    *memRecorder
	clock  testClock
	disk   *fakeDisk
}

// testClock is the gateway's clock in tests: the real time, until a test
// stops it to step it by hand (breaker cooldowns, say, that a slow machine
// must not run out behind the test's back).
type testClock struct {
	mu      sync.Mutex
	stopped bool
	at      time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.at
	}
	return time.Now()
}

// stop holds the clock at the present.
func (c *testClock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped, c.at = true, time.Now()
}

// advance moves a stopped clock on by d.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// memRecorder keeps events in memory; hold, when set, blocks appends until
// it is closed.
type memRecorder struct {
	mu     sync.Mutex
	events []event.Event
	hold   chan struct{}
	full   atomic.Bool // what Full reports: the outbox-full policies
	// diskFull makes Append fail as the outbox does on a full disk.
	diskFull atomic.Bool
	// discard counts events without decoding or keeping them, so a
	// benchmark measures the gateway, not this recorder.
	discard bool
	count   atomic.Int64
}

func (m *memRecorder) Full() bool { return m.full.Load() }

func (m *memRecorder) Append(ctx context.Context, b []byte) (uint64, error) {
	m.mu.Lock()
	hold := m.hold
	m.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if m.diskFull.Load() {
		return 0, fmt.Errorf("outbox: write refused: %w", &diskguard.FullError{Dir: "/data", Free: 1, Reserve: 2})
	}
	if m.discard {
		return uint64(m.count.Add(1)), nil
	}
	var ev event.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return uint64(len(m.events)), nil
}

func (m *memRecorder) all() []event.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]event.Event(nil), m.events...)
}

func newEnv(tb testing.TB, tune ...func(*gateway.Config)) *env {
	tb.Helper()
	e := &env{t: tb, b: fsmtest.New(tb)}
	e.f = e.b.FSM
	var err error
	e.sealer, err = secret.New("gateway-test-secret-0123")
	if err != nil {
		tb.Fatal(err)
	}
	e.oa = mockupstream.New(mockupstream.Behavior{Record: true})
	e.an = mockupstream.New(mockupstream.Behavior{Record: true})
	oaSrv, anSrv := httptest.NewServer(e.oa), httptest.NewServer(e.an)
	tb.Cleanup(oaSrv.Close)
	tb.Cleanup(anSrv.Close)
	e.oaURL, e.anURL = oaSrv.URL, anSrv.URL

	e.apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{
		Slug: "mock-openai", Name: "Mock OpenAI", Format: fsm.FormatOpenAI, BaseURL: e.oaURL, APIPath: "/v1/chat/completions",
		APIKeyCipher: e.sealer.Seal(secret.ProviderPurpose("mock-openai"), []byte(openaiKey)),
		Models:       []string{"gpt-mock", "shared-model"}, Capabilities: []string{"llm"}, Enabled: true,
	}})
	e.apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{
		Slug: "mock-claude", Name: "Mock Claude", Format: fsm.FormatAnthropic, BaseURL: e.anURL, APIPath: "/v1/messages",
		APIKeyCipher: e.sealer.Seal(secret.ProviderPurpose("mock-claude"), []byte(anthropicKey)),
		Models:       []string{"claude-mock", "shared-model"}, Capabilities: []string{"llm"}, Enabled: true,
	}})
	e.key, e.keyID = e.addKey(nil)

	cfg := gateway.DefaultConfig()
	for _, f := range tune {
		f(&cfg)
	}
	e.rec = &memRecorder{}
	e.disk = &fakeDisk{}
	cfg.NodeID = "test-node"
	gw, err := gateway.New(cfg, gateway.Deps{State: e.f, Unsealer: e.sealer, Recorder: e.rec, Space: e.disk,
		Registry: prometheus.NewRegistry(), Now: e.clock.now})
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = gw
	e.gw = httptest.NewServer(gw.Handler())
	tb.Cleanup(e.gw.Close)
	return e
}

func (e *env) apply(typ fsm.MessageType, body any) any {
	e.t.Helper()
	return e.b.Apply(typ, body)
}

// addKey creates a key with every capability, adjusted by mut, and returns
// its secret and id.
func (e *env) addKey(mut func(*fsm.Key)) (string, string) {
	e.t.Helper()
	var b [20]byte
	_, _ = rand.Read(b[:])
	secretKey := "gk_" + hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secretKey))
	k := fsm.Key{ID: "key_" + hex.EncodeToString(b[:4]), OrgID: "org1", Name: "test", Prefix: secretKey[:10],
		Hash: hex.EncodeToString(sum[:]), Scopes: fsm.Capabilities}
	if mut != nil {
		mut(&k)
	}
	e.apply(fsm.TypeKeyUpsert, fsm.KeyUpsertBody{Key: k, Create: true})
	return secretKey, k.ID
}

func (e *env) client(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.gw.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// post sends a raw request to the gateway.
func (e *env) post(path, key, body string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.gw.URL+path, stringsReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	if res.Header.Get("X-Request-Id") == "" {
		e.t.Fatalf("POST %s: no X-Request-Id", path)
	}
	return res
}
