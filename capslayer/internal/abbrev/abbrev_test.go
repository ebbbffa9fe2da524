package abbrev

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cap_chown=p", `"cap_chown=p"`},
		{strings.Repeat("a", Max), `"` + strings.Repeat("a", Max) + `"`},
		{strings.Repeat("a", 128<<10), `"` + strings.Repeat("a", 64) + `"... (131072 bytes)`},
		// A rune across byte 64 is left out whole.
		{strings.Repeat("a", 63) + strings.Repeat("é", 200), `"` + strings.Repeat("a", 63) + `"... (463 bytes)`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%d bytes) = %s, want %s", len(tc.in), got, tc.want)
		}
	}
}
