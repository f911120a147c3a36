package console

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tensorgate/tensorgate/fsm"
	"github.com/tensorgate/tensorgate/storage/event"
)

// TestCapabilityLabels: each capability of the table has its label in
// every console language (the admin package's
// TestConsoleNamesEveryCapability checks the menu links a page for each).
func TestCapabilityLabels(t *testing.T) {
	for lang, text := range consoleText {
		for _, c := range fsm.CapabilityTable {
			if text[c.LabelKey] == "" {
				t.Errorf("console language %q has no label %q for capability %s", lang, c.LabelKey, c.Name)
			}
		}
	}
}

// TestUsageCSVHasEveryUnit keeps the usage export's header as it is and
// finds a column in it for every billing unit.
func TestUsageCSVHasEveryUnit(t *testing.T) {
	got := strings.Join(usageCSVHeader("org"), ",")
	if want := "org,requests,errors,prompt_tokens,completion_tokens,images,seconds,pages,characters,currency,cost,mean_latency_ms"; got != want {
		t.Fatalf("header %q, want %q", got, want)
	}
	for _, u := range fsm.Units {
		if !strings.Contains(got, ","+u.Name+",") {
			t.Errorf("no CSV column for %s in %q", u.Name, got)
		}
	}
}

// TestLocalPath: the console's redirects stay on this site.
func TestLocalPath(t *testing.T) {
	// Open redirects are not followed.
	for in, want := range map[string]string{"/keys": "/keys", "https://evil.example/": "/", "//evil.example": "/", "/\\evil": "/",
		"/\t/evil.example": "/", "/\n/evil.example": "/", "/\r\n/evil.example": "/", " //evil.example": "/", "/\u00a0/evil.example": "/",
		"/keys?page=2": "/keys?page=2", "/usage?from=2026-11-01&group_by=model": "/usage?from=2026-11-01&group_by=model"} {
		if got := localPath(in, "/"); got != want {
			t.Errorf("localPath(%q) = %q", in, got)
		}
	}
}

func TestChartPointsSpanTheRange(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, sh)
	to := time.Date(2026, 11, 8, 0, 0, 0, 0, sh)
	one := event.Point{Time: time.Date(2026, 11, 3, 0, 0, 0, 0, sh), Totals: event.Totals{Requests: 4}}
	pts := chartPoints([]event.Point{one}, "day", from, to, sh, func(t event.Totals) []float64 { return []float64{float64(t.Requests)} })
	if len(pts) != 2 || len(pts[0]) != 7 || pts[0][0] != float64(from.Unix()) || fmt.Sprint(pts[1]) != "[0 0 4 0 0 0 0]" {
		t.Fatalf("points %v", pts)
	}
	// Hours in the same zone; an open range keeps the series as it is.
	if pts := chartPoints([]event.Point{one}, "hour", from, from.Add(3*time.Hour), sh, func(t event.Totals) []float64 { return nil }); len(pts[0]) != 3 {
		t.Fatalf("hours %v", pts)
	}
	if pts := chartPoints([]event.Point{one}, "day", time.Time{}, to, sh, func(t event.Totals) []float64 { return []float64{1} }); len(pts[0]) != 1 {
		t.Fatalf("open range %v", pts)
	}
}

// TestCSVTextIsNoFormula: a name a client chose cannot run as a
// spreadsheet formula in the usage export (issue 18 item 8).
func TestCSVTextIsNoFormula(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example","x")`: `'=HYPERLINK("http://evil.example","x")`,
		"+1":                                    "'+1",
		"-2+3":                                  "'-2+3",
		"@SUM(A1)":                              "'@SUM(A1)",
		"\tx":                                   "'\tx",
		"\rx":                                   "'\rx",
		"gpt-4o":                                "gpt-4o",
		"":                                      "",
		"CNY":                                   "CNY",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
}
