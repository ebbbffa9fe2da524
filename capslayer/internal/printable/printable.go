// Package printable escapes the text an input or a remote supplies (file
// paths, link targets, image names, labels, registry error bodies) before
// it is printed: a newline, a carriage return, an escape sequence or a
// bidirectional override would otherwise break a table's rows, forge a line
// of a CI log, repaint the terminal or make one file look like another.
//
// Two functions, for two kinds of text:
//
//   - String escapes one name, unambiguously: in its result a backslash
//     always starts an escape. Text for people that holds a name (a
//     message, a note, a YAML comment) holds String of the name.
//   - Text guards composed text (an error message, a message whose names
//     went through String, a quoted shell line): it escapes only the runes
//     that are not printable and leaves backslashes alone, so it changes
//     nothing in text that is already safe.
//
// Machine-readable fields (a JSON "path", argv) keep the raw value; the
// package internal/quote renders those for their language.
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
// characters such as U+202E, line and paragraph separators) written as a Go
// escape (\n, \x1b, \u202e). The result is unambiguous: in it, a backslash
// always starts an escape.
func String(s string) string {
	return escape(s, true)
}

// Text returns s with each rune that is not printable written as a Go
// escape, as String does, but with backslashes left as they are: for text
// whose names are already escaped or quoted. The result holds no control
// character, no line break and no format character, so it stays on one line
// and cannot move the cursor or reorder what a terminal shows.
func Text(s string) string {
	return escape(s, false)
}

// Safe reports whether every rune of s is printable (Text(s) == s).
func Safe(s string) bool {
	return clean(s, false)
}

// IsPrint reports whether r is printed as itself: a graphic rune as
// unicode.IsPrint defines it (letters, marks, numbers, punctuation, symbols
// and the ASCII space). An invalid UTF-8 byte, which decodes as
// utf8.RuneError, is not printed as itself: callers decode with
// utf8.DecodeRuneInString and test for it.
func IsPrint(r rune) bool {
	return r == ' ' || unicode.IsPrint(r)
}

func escape(s string, backslash bool) string {
	if clean(s, backslash) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == '\\' && backslash:
			b.WriteString(`\\`)
		case IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func clean(s string, backslash bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (r == '\\' && backslash) || !IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}
