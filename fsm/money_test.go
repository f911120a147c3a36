package fsm

import (
	"math"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in    string
		scale int
		want  int64
		err   bool
	}{
		{"12.5", 6, 12_500_000, false},
		{"0.0008", 6, 800, false},
		{"3", 6, 3_000_000, false},
		{".5", 2, 50, false},
		{"5.", 2, 500, false},
		{"0", 6, 0, false},
		{"1.10000000", 2, 110, false},
		{"0.0000001", 6, 0, true},
		{"-1", 6, 0, true},
		{"+1", 6, 0, true},
		{"1e3", 6, 0, true},
		{"", 6, 0, true},
		{".", 6, 0, true},
		{"1.2.3", 6, 0, true},
		{"99999999999999999999", 6, 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDecimal(tc.in, tc.scale)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDecimal(%q, %d) = %d, %v; want %d, err=%v", tc.in, tc.scale, got, err, tc.want, tc.err)
		}
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		scale int
		want  string
	}{
		{12_500_000, 6, "12.5"}, {800, 6, "0.0008"}, {3_000_000, 6, "3"}, {0, 6, "0"}, {-1500, 3, "-1.5"}, {7, 0, "7"},
	} {
		if got := FormatDecimal(tc.v, tc.scale); got != tc.want {
			t.Errorf("FormatDecimal(%d, %d) = %q, want %q", tc.v, tc.scale, got, tc.want)
		}
		if tc.v >= 0 {
			back, err := ParseDecimal(FormatDecimal(tc.v, tc.scale), tc.scale)
			if err != nil || back != tc.v {
				t.Errorf("round trip %d: %d, %v", tc.v, back, err)
			}
		}
	}
}

func TestCost(t *testing.T) {
	for _, tc := range []struct{ rate, n, want int64 }{
		{800_000, 1_000_000, 800_000}, // 0.8 per 1M tokens, 1M tokens
		{800_000, 1, 1},               // a fraction of a micro-unit rounds up
		{800_000, 1250, 1000},         // exact
		{2e11, 3, 600_000},            // 0.2 per image, 3 images
		{0, 100, 0},
		{100, 0, 0},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
	} {
		if got := Cost(tc.rate, tc.n); got != tc.want {
			t.Errorf("Cost(%d, %d) = %d, want %d", tc.rate, tc.n, got, tc.want)
		}
	}
}
