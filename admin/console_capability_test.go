package admin

import (
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// TestConsoleNamesEveryCapability: the menu links a page for each
// capability of the table (console.TestCapabilityLabels checks that each
// has its label in every console language), so a new capability is one
// table entry plus its translations.
func TestConsoleNamesEveryCapability(t *testing.T) {
	e := newEnv(t)
	super := e.consoleAs(t, fsm.RoleSuperAdmin, "", "menu@example.com")
	code, loc, page := super.req("GET", "/keys", nil)
	if code != 200 {
		t.Fatalf("keys page: %d %s", code, loc)
	}
	for _, c := range fsm.CapabilityTable {
		if !strings.Contains(page, `href="/cap/`+c.Name+`"`) {
			t.Errorf("the console's menu has no page for capability %s", c.Name)
		}
	}
}
