package route

import (
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/fsm/fsmtest"
)

func testState(t testing.TB) *fsm.State {
	t.Helper()
	b := fsmtest.New(t)
	prov := func(slug string, enabled bool, caps []string, models ...string) {
		b.Apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{Slug: slug, Name: slug,
			Format: fsm.FormatOpenAI, BaseURL: "http://" + slug, APIPath: "/v1/chat/completions", Models: models, Capabilities: caps, Enabled: enabled}})
	}
	prov("a", true, nil, "shared", "only-a")
	prov("b", true, []string{"llm"}, "shared")
	prov("off", false, nil, "shared", "only-off")
	prov("img", true, []string{"image"}, "shared")
	b.Apply(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: fsm.Route{Model: "alias", Strategy: fsm.StrategyPriority,
		Targets: []fsm.Target{{Provider: "off", Model: "x"}, {Provider: "b", Model: "shared"}, {Provider: "a", Model: "only-a"}}}})
	return b.View()
}

func slugs(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Provider.Slug+":"+t.Model)
	}
	return strings.Join(out, ",")
}

func TestResolve(t *testing.T) {
	s := testState(t)
	for _, tc := range []struct {
		model, capability string
		allow             Filter
		want              string
	}{
		{"shared", "llm", nil, "a:shared,b:shared"},
		{"shared", "image", nil, "img:shared"},
		{"only-off", "llm", nil, ""},
		{"alias", "llm", nil, "b:shared,a:only-a"},
		{"alias", "llm", func(p *fsm.Provider) bool { return p.Slug != "b" }, "a:only-a"},
		{"shared", "llm", func(p *fsm.Provider) bool { return p.Slug == "b" }, "b:shared"},
		{"nope", "llm", nil, ""},
	} {
		if got := slugs(Resolve(s, tc.model, tc.capability, tc.allow)); got != tc.want {
			t.Errorf("Resolve(%s, %s) = %q, want %q", tc.model, tc.capability, got, tc.want)
		}
	}
}

func TestModels(t *testing.T) {
	s := testState(t)
	var ids []string
	for _, m := range Models(s, "llm", nil) {
		ids = append(ids, m.ID+"@"+m.OwnedBy)
	}
	if got := strings.Join(ids, ","); got != "shared@a,only-a@a,alias@tensorgate" {
		t.Fatalf("Models = %s", got)
	}
}

func TestClosedModelsAreNotRouted(t *testing.T) {
	b := fsmtest.New(t)
	for _, slug := range []string{"a", "b"} {
		b.Apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Create: true, Provider: fsm.Provider{Slug: slug, Name: slug,
			Format: fsm.FormatOpenAI, BaseURL: "http://" + slug, APIPath: "/v1/chat/completions", Models: []string{"m", "n"}, Enabled: true}})
	}
	a := *b.View().Providers["a"]
	a.DisabledModels = []string{"m"}
	b.Apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: a})
	b.Apply(fsm.TypeRouteUpsert, fsm.RouteUpsertBody{Route: fsm.Route{Model: "alias", Strategy: fsm.StrategyPriority,
		Targets: []fsm.Target{{Provider: "a", Model: "m"}, {Provider: "a", Model: "n"}, {Provider: "b", Model: "m"}}}})
	s := b.View()
	if got := slugs(Resolve(s, "m", "llm", nil)); got != "b:m" {
		t.Errorf("m resolves to %q, want b:m", got)
	}
	if got := slugs(Resolve(s, "alias", "llm", nil)); got != "a:n,b:m" {
		t.Errorf("alias resolves to %q, want a:n,b:m", got)
	}
	var ids []string
	for _, m := range Models(s, "llm", nil) {
		ids = append(ids, m.ID+"@"+m.OwnedBy)
	}
	if got := strings.Join(ids, ","); got != "n@a,m@b,alias@tensorgate" {
		t.Errorf("models %q", got)
	}
	// Closing the last open copy makes the model unknown.
	bp := *s.Providers["b"]
	bp.DisabledModels = []string{"m"}
	b.Apply(fsm.TypeProviderUpsert, fsm.ProviderUpsertBody{Provider: bp})
	if got := Resolve(b.View(), "m", "llm", nil); len(got) != 0 {
		t.Errorf("a model closed everywhere resolves to %q", slugs(got))
	}
	// Only listed models can be closed.
	bp.DisabledModels = []string{"zzz"}
	if _, err := b.Commit(t.Context(), fsm.Command{Type: fsm.TypeProviderUpsert, Time: b.Now(), Body: fsm.ProviderUpsertBody{Provider: bp}}); !fsm.IsCode(err, fsm.CodeInvalid) {
		t.Errorf("closing an unlisted model: %v", err)
	}
}
