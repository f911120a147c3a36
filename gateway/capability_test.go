package gateway

import (
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/gateway/provider"
)

type nilState struct{}

func (nilState) View() *fsm.State { return nil }

// TestEveryCapabilityOpHasAnAdapter checks that the data plane serves
// every row of fsm.CapabilityTable: each operation has a decoder and at
// least one of the built-in adapters supports it.
func TestEveryCapabilityOpHasAnAdapter(t *testing.T) {
	s, err := New(DefaultConfig(), Deps{State: nilState{}, Unsealer: &countingUnsealer{}})
	if err != nil {
		t.Fatal(err)
	}
	eps := endpoints()
	n := 0
	for _, c := range fsm.CapabilityTable {
		for _, e := range c.Endpoints {
			ep := eps[n]
			n++
			if ep.path != e.Path || ep.capability != c.Name || string(ep.op) != e.Op || ep.multipart != (e.Body == fsm.BodyMultipart) || ep.decode == nil {
				t.Errorf("%s: endpoint %+v does not match its table row", e.Path, ep)
			}
			var by []string
			for format, a := range s.adapters {
				if a.Supports(provider.Op(e.Op)) {
					by = append(by, format)
				}
			}
			if len(by) == 0 {
				t.Errorf("%s (%s): no adapter supports op %q", e.Path, c.Name, e.Op)
			}
		}
	}
	if n != len(eps) {
		t.Errorf("%d endpoints for %d table rows", len(eps), n)
	}
}
