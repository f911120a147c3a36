package tensorgate_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// allowed lists, for each top-level package of ours, which of our other
// top-level packages it may import. Imports point down, never up (see
// DESIGN.md); a new edge needs a reason and a line here.
var allowed = map[string][]string{
	"cmd":        {"admin", "cluster", "fsm", "gateway", "storage", "migrations"},
	"admin":      {"cluster", "fsm", "storage"}, // storage/secret: sealing provider keys
	"gateway":    {"fsm", "storage"},
	"cluster":    {"fsm", "storage"},
	"storage":    {"fsm", "migrations"}, // fsm.Units: the billing units events carry and the sinks write
	"fsm":        {},
	"migrations": {},
	"deploy":     {}, // tests of the deployment files only
}

const module = "github.com/tensorgate/tensorgate"

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from := top(p.ImportPath)
		if from == "" {
			continue
		}
		ok, known := allowed[from]
		if !known {
			t.Errorf("%s: top-level package %q is not in the layout", p.ImportPath, from)
			continue
		}
		for _, imp := range p.Imports {
			to := top(imp)
			if to == "" || to == from {
				continue
			}
			if !contains(ok, to) {
				t.Errorf("%s imports %s: %s may not import %s", p.ImportPath, imp, from, to)
			}
		}
		// The data plane must never reach raft directly.
		if from == "gateway" {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, "github.com/hashicorp/raft") {
					t.Errorf("%s imports %s: the gateway must not import raft", p.ImportPath, imp)
				}
			}
		}
	}
}

// top returns the first path element of one of our packages, or "".
func top(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
