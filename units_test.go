package tensorgate_test

import (
	"bytes"
	"io/fs"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/migrations"
	"github.com/tensorgate/tensorgate/storage/event"
	"github.com/tensorgate/tensorgate/storage/greptime"
)

// TestEveryUnitIsWired checks that each billing unit in fsm.Units reaches
// everything that stores or prices usage: a column in every Postgres table
// that holds usage (as the migrations create it), a field of the
// GreptimeDB line, a valid price field, and a field named as the unit at
// its place in every record's Figures. The CSV export's column is checked
// in admin (TestUsageCSVHasEveryUnit), and the rollups' sums against a real
// Postgres in storage/pgsink (TestEveryUnitIsStoredAndRolledUp).
func TestEveryUnitIsWired(t *testing.T) {
	columns := migratedColumns(t)
	for i, u := range fsm.Units {
		t.Run(u.Name, func(t *testing.T) {
			for _, table := range []string{"audit_events", "billing_daily", "billing_hourly", "billing_key_daily",
				"billing_key_weekly", "billing_key_monthly"} {
				if !columns[table][u.Column] {
					t.Errorf("Postgres: no migration adds column %q to %s", u.Column, table)
				}
			}

			var ev event.Event
			*ev.Usage.Figures()[i] = 4242
			var b bytes.Buffer
			greptime.AppendLine(&b, &ev, 1)
			if want := "," + u.Series + "=4242i,"; u.Series == "" || !strings.Contains(b.String(), want) {
				t.Errorf("GreptimeDB: line %q has no field %s", b.String(), want)
			}

			if u.PriceField == "" || u.Scale < 0 || u.Scale > 12 {
				t.Errorf("price field %q, scale %d: want a field and 0-12 decimal places", u.PriceField, u.Scale)
			}
			p := fsm.Price{Model: "m", Currency: "CNY", Rates: map[string]int64{u.Rate: 1}}
			if err := p.Validate(); err != nil {
				t.Errorf("a price in %s: %v", u.Rate, err)
			}
			var c fsm.UsageCount
			*c.Figures()[i] = 3
			if got := p.CostOf(c.Figures()); got != 1 { // 3 units at 1 micro-unit per million, rounded up
				t.Errorf("cost of 3 %s at rate 1: got %d, want 1", u.Name, got)
			}
		})
	}
	for _, tc := range []struct {
		name string
		rec  any // a pointer to a struct with a Figures method
	}{
		{"fsm.UsageCount", &fsm.UsageCount{}},
		{"event.Usage", &event.Usage{}},
		{"event.Totals", &event.Totals{}},
	} {
		figs := reflect.ValueOf(tc.rec).MethodByName("Figures").Call(nil)[0].Interface().(fsm.Figures)
		for i, f := range figs {
			if got := jsonNameAt(tc.rec, f); got != fsm.Units[i].Name {
				t.Errorf("%s.Figures()[%d] is field %q, want %q", tc.name, i, got, fsm.Units[i].Name)
			}
		}
	}
	seen := map[string]bool{}
	for _, u := range fsm.Units {
		for _, k := range []string{"name " + u.Name, "rate " + u.Rate, "price " + u.PriceField, "column " + u.Column, "series " + u.Series} {
			if seen[k] {
				t.Errorf("two units share the %s", k)
			}
			seen[k] = true
		}
	}
}

// jsonNameAt returns the JSON name of the int64 field of the struct rec
// points to that p points at, or "".
func jsonNameAt(rec any, p *int64) string {
	v := reflect.ValueOf(rec).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Int64 && f.Addr().Interface().(*int64) == p {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return ""
}

var (
	createTable = regexp.MustCompile(`(?is)CREATE TABLE (\w+) \(\n(.*?)\n\)[^;]*;`)
	likeTable   = regexp.MustCompile(`(?i)CREATE TABLE (\w+) \(LIKE (\w+)`)
	alterTable  = regexp.MustCompile(`(?i)ALTER TABLE (\w+)([^;]*);`)
	addColumn   = regexp.MustCompile(`(?i)ADD COLUMN (?:IF NOT EXISTS )?(\w+)`)
	columnDef   = regexp.MustCompile(`(?m)^\s+(\w+)\s+\w+`)
)

// migratedColumns reads the columns of each table from the migrations,
// statement by statement in order: CREATE TABLE, CREATE TABLE (LIKE ...),
// ALTER TABLE ... ADD COLUMN.
func migratedColumns(t *testing.T) map[string]map[string]bool {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v (%d files)", err, len(names))
	}
	tables := map[string]map[string]bool{}
	type step struct {
		pos int
		do  func()
	}
	for _, name := range names { // Glob sorts: NNNN_ order
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		sql := string(b)
		var steps []step
		for _, m := range createTable.FindAllStringSubmatchIndex(sql, -1) {
			table, body := sql[m[2]:m[3]], sql[m[4]:m[5]]
			steps = append(steps, step{m[0], func() {
				tables[table] = map[string]bool{}
				for _, c := range columnDef.FindAllStringSubmatch(body, -1) {
					tables[table][strings.ToLower(c[1])] = true
				}
			}})
		}
		for _, m := range likeTable.FindAllStringSubmatchIndex(sql, -1) {
			table, like := sql[m[2]:m[3]], sql[m[4]:m[5]]
			steps = append(steps, step{m[0], func() {
				tables[table] = maps.Clone(tables[like])
			}})
		}
		for _, m := range alterTable.FindAllStringSubmatchIndex(sql, -1) {
			table, body := sql[m[2]:m[3]], sql[m[4]:m[5]]
			steps = append(steps, step{m[0], func() {
				for _, c := range addColumn.FindAllStringSubmatch(body, -1) {
					if tables[table] == nil {
						t.Fatalf("%s: ALTER TABLE %s before it is created", name, table)
					}
					tables[table][strings.ToLower(c[1])] = true
				}
			}})
		}
		slices.SortFunc(steps, func(a, b step) int { return a.pos - b.pos })
		for _, s := range steps {
			s.do()
		}
	}
	if len(tables["audit_events"]) == 0 {
		t.Fatalf("no audit_events table read from the migrations: %v", tables)
	}
	return tables
}
