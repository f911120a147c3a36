package fsm

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// MicrosPerUnit is the number of micro-units in one unit of a currency.
const MicrosPerUnit = 1_000_000

// ErrDecimal reports a decimal string that cannot be represented.
var ErrDecimal = errors.New("must be a non-negative decimal number")

// ParseDecimal parses a non-negative decimal string such as "12.5" into an
// integer scaled by 10^scale ("12.5" with scale 6 is 12500000). It refuses
// more fractional digits than scale rather than rounding money silently.
func ParseDecimal(s string, scale int) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '-' || s[0] == '+' {
		return 0, ErrDecimal
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return 0, ErrDecimal
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > scale {
		return 0, errors.New("has more decimal places than supported (" + strconv.Itoa(scale) + ")")
	}
	for _, r := range intPart + frac {
		if r < '0' || r > '9' {
			return 0, ErrDecimal
		}
	}
	digits := intPart + frac + strings.Repeat("0", scale-len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, errors.New("is too large")
	}
	return v, nil
}

// FormatDecimal renders v scaled by 10^scale as a decimal string without
// trailing zeros ("12.5", "3", "0.0008").
func FormatDecimal(v int64, scale int) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	ip, fp := s[:len(s)-scale], strings.TrimRight(s[len(s)-scale:], "0")
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out
}

// Cost returns the price of n units at rate (micro-units per million
// units), rounded up to a whole micro-unit so that many tiny calls never
// sum to less than their true cost. It saturates instead of overflowing.
func Cost(rate, n int64) int64 {
	if rate <= 0 || n <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(rate), uint64(n))
	if hi >= 1_000_000 {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, 1_000_000)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
