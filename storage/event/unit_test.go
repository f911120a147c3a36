package event

import (
	"testing"

	"github.com/tensorgate/tensorgate/fsm"
)

// TestTokensSumsTheTokenUnits: what TPM limits count is the token units'
// figures, and no other unit's.
func TestTokensSumsTheTokenUnits(t *testing.T) {
	var u Usage
	var want int64
	for i, f := range u.Figures() {
		*f = int64(1) << (4 * i)
		if fsm.Units[i].Token {
			want += *f
		}
	}
	u.TotalTokens, u.CachedTokens = 1<<40, 1<<41
	if got := u.Tokens(); got != want || got != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("Tokens() = %d, want %d (prompt %d + completion %d)", got, want, u.PromptTokens, u.CompletionTokens)
	}
}
