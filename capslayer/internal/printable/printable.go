// Package printable escapes the names an image holds (file paths, link
// targets, tags) before they are printed in a table or a message: a
// newline, a tab, an escape sequence or a bidirectional override in a name
// would otherwise break the table's rows, repaint the terminal or make one
// file look like another.
package printable

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s unchanged when every rune is printable and s holds no
// backslash; otherwise s with each backslash doubled and each other rune
// that is not printable (control characters, invalid UTF-8, format
// characters such as U+202E) written as a Go escape (\n, \x1b, \u202e).
// The result is unambiguous: in it, a backslash always starts an escape.
func String(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == '\\':
			b.WriteString(`\\`)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func clean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || r == '\\' || (r != ' ' && !unicode.IsPrint(r)) {
			return false
		}
		i += n
	}
	return true
}
