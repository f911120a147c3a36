package provider

import "unicode/utf8"

// EstimateTokens guesses how many tokens text holds when an upstream does
// not say: about four bytes per token for ASCII, and one token per
// character beyond it (CJK text runs near one token per character). It errs
// high, as an estimate used for billing and quotas should.
func EstimateTokens(text []byte) int64 {
	var ascii, other int64
	for i := 0; i < len(text); {
		if text[i] < utf8.RuneSelf {
			ascii++
			i++
			continue
		}
		_, size := utf8.DecodeRune(text[i:])
		other++
		i += size
	}
	return (ascii+3)/4 + other
}

// EstimateString is EstimateTokens for a string.
func EstimateString(s string) int64 {
	var ascii, other int64
	for _, r := range s {
		if r < utf8.RuneSelf {
			ascii++
		} else {
			other++
		}
	}
	return (ascii+3)/4 + other
}
