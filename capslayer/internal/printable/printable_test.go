package printable

import "testing"

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/app/server", "/app/server"},
		{"/app/with space/é", "/app/with space/é"},
		// Issue 15: names with newlines or escape characters broke table rows.
		{"/app/a\nb", `/app/a\nb`},
		{"/app/\ttab", `/app/\ttab`},
		{"/app/\x1b[31mred", `/app/\x1b[31mred`},
		{"/app/\u202etxt.exe", `/app/\u202etxt.exe`},
		{"/app/\xff", `/app/\xff`},
		{`/app/a\nb`, `/app/a\\nb`}, // a literal backslash stays distinguishable
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`open "a\nb": no such file`, `open "a\nb": no such file`}, // a quoted value keeps its escapes
		{"body \x1b[2J\r\nPASS", `body \x1b[2J\r\nPASS`},
		{"\u202eexe", `\u202eexe`},
		{"\xff", `\xff`},
		{"é ok", "é ok"},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if got := Text(tc.want); got != tc.want {
			t.Errorf("Text is not idempotent on %q: %s", tc.want, got)
		}
		if !Safe(Text(tc.in)) || Safe(tc.in) != (tc.in == tc.want) {
			t.Errorf("Safe(%q) wrong", tc.in)
		}
	}
}
