package gateway

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/auth"
)

// countingUnsealer opens "sealed:X" as X and counts the calls.
type countingUnsealer struct{ opened int }

func (u *countingUnsealer) Open(purpose string, sealed []byte) ([]byte, error) {
	u.opened++
	if len(sealed) < 7 || string(sealed[:7]) != "sealed:" {
		return nil, errors.New("not sealed")
	}
	return sealed[7:], nil
}

func TestKeyCacheEvictsRotatedAndRemovedKeys(t *testing.T) {
	u := &countingUnsealer{}
	s := &Server{unsealer: u, log: slog.New(slog.DiscardHandler), cfg: Config{SystemKeys: map[string]string{"SYS": "system-key"}}}
	pv := &fsm.Provider{Slug: "p", BaseURL: "http://h", Format: fsm.FormatOpenAI, KeyEnv: "SYS", APIKeyCipher: []byte("sealed:one")}
	org := auth.Principal{Org: &fsm.Org{ID: "org1"}}
	steps := []struct {
		name    string
		mut     func()
		p       auth.Principal
		want    string
		opened  int // unseals so far
		entries int // keys the cache holds
	}{
		{"first call unseals", func() {}, org, "one", 1, 1},
		{"second call is cached", func() {}, org, "one", 1, 1},
		{"rotated key replaces the old", func() { pv.APIKeyCipher = []byte("sealed:two") }, org, "two", 2, 1},
		{"rotated again", func() { pv.APIKeyCipher = []byte("sealed:three") }, org, "three", 3, 1},
		{"an org's own key has its own slot", func() {}, auth.Principal{Org: org.Org,
			Policy: &fsm.Policy{OwnKeys: map[string][]byte{"p": []byte("sealed:own")}}}, "own", 4, 2},
		{"the provider's key is still cached", func() {}, org, "three", 4, 1},
		{"a removed key is dropped", func() { pv.APIKeyCipher = nil }, org, "system-key", 4, 0},
	}
	for _, st := range steps {
		st.mut()
		ep, err := s.endpoint(st.p, pv)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if ep.APIKey != st.want || u.opened != st.opened || s.keys.len() != st.entries {
			t.Fatalf("%s: key %q, %d unseals, %d cached; want %q, %d, %d", st.name, ep.APIKey, u.opened, s.keys.len(), st.want, st.opened, st.entries)
		}
	}
}

func TestKeyCacheGetMatchesTheSealedBytes(t *testing.T) {
	var c keyCache
	slot := keySlot{provider: "p"}
	if _, ok := c.get(slot, []byte("a")); ok {
		t.Fatal("an empty cache answered")
	}
	c.put(slot, []byte("a"), "A")
	if v, ok := c.get(slot, []byte("a")); !ok || v != "A" {
		t.Fatalf("got %q %v, want A", v, ok)
	}
	if _, ok := c.get(slot, []byte("b")); ok {
		t.Fatal("a different sealed key answered with the cached plaintext")
	}
	if _, ok := c.get(keySlot{provider: "p", org: "o"}, []byte("a")); ok {
		t.Fatal("an org's slot answered with the provider's key")
	}
	c.drop(slot)
	if c.len() != 0 {
		t.Fatalf("%d keys after drop", c.len())
	}
}

func TestKeyCacheReadsDoNotAllocate(t *testing.T) {
	var c keyCache
	slot, sealed := keySlot{provider: "p", org: "o"}, []byte("sealed-bytes")
	c.put(slot, sealed, "plain")
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := c.get(slot, sealed); !ok {
			t.Fatal("miss")
		}
		c.drop(keySlot{provider: "q"})
	}); n != 0 {
		t.Fatalf("%v allocations per cached read", n)
	}
}
