// Package quote renders data in the languages capslayer prints: POSIX shell
// command lines, YAML documents, CEL string literals and JSON. There is one
// function per language, and every line, document or expression the tool
// prints is built from data through it, never by pasting strings, so a name
// taken from an image stays one shell argument, one YAML scalar or one CEL
// string whatever it holds: quotes, $(...), backticks, newlines, a leading
// "-".
//
// Each result is also safe for a terminal: it holds only printable runes
// (internal/printable), so no control character, line break or
// bidirectional override from an input reaches a screen or a CI log raw.
// Where a language can write any rune as an escape (YAML, CEL, JSON), the
// result does; a POSIX shell line cannot, and Command refuses an argument
// it cannot show.
package quote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
)

// ErrUnprintable is wrapped by the error of Command for an argument that a
// POSIX shell line cannot show: POSIX quoting has no escape for a control
// character, a line break, a format character or invalid UTF-8, and
// printing one raw would let the input rewrite the line on the screen.
var ErrUnprintable = errors.New("quote: the argument holds a character a shell line cannot show")

// shellSafe are the bytes a word may hold unquoted: none of them is special
// to a POSIX shell anywhere in a word ('=', '~' and '#' are, at its start).
func shellSafe(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		strings.IndexByte("-_./:@%+,", b) >= 0
}

// Shell returns s as one POSIX shell word that expands to s: unquoted when
// s holds only letters, digits and -_./:@%+, and otherwise in single
// quotes, a quote inside written '"'"' (the result holds no backslash, so
// it reads the same after printable.Text). It fails, wrapping
// ErrUnprintable, when s holds a rune that is not printable.
func Shell(s string) (string, error) {
	if !printable.Safe(s) {
		return "", fmt.Errorf("%w: %s", ErrUnprintable, printable.String(s))
	}
	safe := s != ""
	for i := 0; i < len(s) && safe; i++ {
		safe = shellSafe(s[i])
	}
	if safe {
		return s, nil
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'", nil
}

// Command returns argv as one line that a POSIX shell splits back into
// argv, each argument quoted by Shell. It fails when an argument cannot be
// shown (see Shell).
func Command(argv ...string) (string, error) {
	words := make([]string, len(argv))
	for i, a := range argv {
		w, err := Shell(a)
		if err != nil {
			return "", err
		}
		words[i] = w
	}
	return strings.Join(words, " "), nil
}

// CEL returns s as a CEL string literal: in double quotes, with \\, \" and
// each rune that is not printable written as an escape (\n, \r, \t,
// \uXXXX, \UXXXXXXXX). A CEL string holds Unicode text: an invalid UTF-8
// byte becomes \ufffd.
func CEL(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s { // ranging decodes an invalid byte as U+FFFD
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case printable.IsPrint(r):
			b.WriteRune(r)
		default:
			writeUnicodeEscape(&b, r, false)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeUnicodeEscape writes r as \uXXXX, or beyond the BMP as \UXXXXXXXX
// (CEL, YAML) or a \uXXXX\uXXXX surrogate pair (JSON).
func writeUnicodeEscape(b *strings.Builder, r rune, surrogates bool) {
	switch {
	case r <= 0xFFFF:
		fmt.Fprintf(b, `\u%04x`, r)
	case surrogates:
		r -= 0x10000
		fmt.Fprintf(b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
	default:
		fmt.Fprintf(b, `\U%08x`, r)
	}
}

// escapeUnprintable writes each rune of s that is not printable as an
// escape. It is applied to a whole JSON or YAML text, where such runes
// appear only inside quoted strings (JSON) or double-quoted scalars (YAML,
// see YAML), in which the escape means the rune.
func escapeUnprintable(s []byte, surrogates bool) []byte {
	if printable.Safe(string(s)) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if (r == '\n' || printable.IsPrint(r)) && !(r == utf8.RuneError && n == 1) {
			b.Write(s[i : i+n])
		} else {
			writeUnicodeEscape(&b, r, surrogates) // an invalid byte: \ufffd
		}
		i += n
	}
	return []byte(b.String())
}

// JSON returns v as indented JSON (encoding/json's MarshalIndent, two
// spaces, ending in a newline) with each rune that encoding/json leaves raw
// but that is not printable (DEL, C1 controls, U+202E...) written as a
// \uXXXX escape, which a JSON parser reads back as the same rune.
func JSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(escapeUnprintable(b, true), '\n'), nil
}

// EscapeJSON returns the JSON text b (valid JSON, as encoding/json checks
// it) with each rune that is not printable and that JSON allows raw (DEL,
// C1 controls, U+202E...) written as a \uXXXX escape: the same JSON value,
// safe for a terminal. Valid JSON holds such runes only inside strings,
// where the escape means the rune; b is returned as is when it holds none.
func EscapeJSON(b []byte) []byte {
	return escapeUnprintable(b, true)
}

// JSONString returns s as a JSON string literal, written by encoding/json
// and escaped as JSON escapes it; invalid UTF-8 becomes U+FFFD, as in
// encoding/json.
func JSONString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic("quote: encoding/json cannot marshal a string: " + err.Error())
	}
	return string(escapeUnprintable(b, true))
}

// YAML returns v as one YAML document written by go.yaml.in/yaml/v3 with a
// two-space indent, headed by the comment lines (none if nil). A string
// scalar that holds a rune that is not printable, other than a newline, is
// written double-quoted, with that rune as an escape; a comment line has such runes escaped by
// printable.Text, so no input can end the comment. v may be a *yaml.Node.
func YAML(v any, comment ...string) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	quoteUnprintable(&n)
	lines := make([]string, len(comment))
	for i, c := range comment {
		// With its "#" written here, a line is one comment line as
		// given; yaml.v3 would make an empty line a blank line.
		lines[i] = strings.TrimSuffix("# "+printable.Text(c), " ")
	}
	n.HeadComment = strings.Join(lines, "\n")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return escapeUnprintable(buf.Bytes(), false), nil
}

// quoteUnprintable makes every scalar of n that holds a rune that is not
// printable, other than a newline, double-quoted: the one YAML style in
// which such a rune can be written as an escape. (A newline is written as a
// line of a block scalar, or escaped.)
func quoteUnprintable(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && !printable.Safe(strings.ReplaceAll(n.Value, "\n", "")) {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteUnprintable(c)
	}
}
