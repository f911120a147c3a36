package fsm

import (
	"slices"
	"strings"
	"testing"
)

func TestCapabilityTable(t *testing.T) {
	paths, ops := map[string]string{}, map[string]string{}
	var names []string
	for _, c := range CapabilityTable {
		if c.Name == "" || slices.Contains(names, c.Name) {
			t.Errorf("capability %q: empty or listed twice", c.Name)
		}
		names = append(names, c.Name)
		if c.LabelKey != "cap."+c.Name {
			t.Errorf("%s: label key %q, want cap.%s (the console's keys)", c.Name, c.LabelKey, c.Name)
		}
		if len(c.Units) == 0 {
			t.Errorf("%s: billed in no unit", c.Name)
		}
		for _, u := range c.Units {
			// A price with this unit must validate.
			if err := (&Price{Model: "m", Currency: "CNY", Rates: map[string]int64{u: 1}}).Validate(); err != nil {
				t.Errorf("%s: unit %q is not a price unit: %v", c.Name, u, err)
			}
		}
		if len(c.Endpoints) == 0 {
			t.Errorf("%s: no endpoints", c.Name)
		}
		for _, e := range c.Endpoints {
			if !strings.HasPrefix(e.Path, "/v1/") {
				t.Errorf("%s: path %q is not under /v1/", c.Name, e.Path)
			}
			if prev, ok := paths[e.Path]; ok {
				t.Errorf("path %s is in both %s and %s", e.Path, prev, c.Name)
			}
			paths[e.Path] = c.Name
			if prev, ok := ops[e.Op]; ok || e.Op == "" {
				t.Errorf("op %q (%s) is empty or also in %s", e.Op, e.Path, prev)
			}
			ops[e.Op] = c.Name
			if e.Body != BodyJSON && e.Body != BodyMultipart {
				t.Errorf("%s: body kind %q", e.Path, e.Body)
			}
		}
	}
	if !slices.Equal(Capabilities, names) {
		t.Errorf("Capabilities = %v, want the table's %v", Capabilities, names)
	}
	for _, n := range names {
		if !IsCapability(n) {
			t.Errorf("IsCapability(%q) = false", n)
		}
	}
	if IsCapability("video") || IsCapability("") {
		t.Error("IsCapability answers true for a name not in the table")
	}
}
