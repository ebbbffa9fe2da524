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
