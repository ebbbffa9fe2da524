// Package abbrev quotes user-supplied text for error messages without
// echoing all of it: a 128 KiB argument becomes its first bytes and its
// length.
package abbrev

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Max is the longest text Quote echoes whole, in bytes. Real values
// (paths, capability text, uids) are far shorter.
const Max = 256

// keep is how many bytes of a longer text Quote echoes.
const keep = 64

// Quote returns s quoted as %q does when it is at most Max bytes long;
// otherwise the quoted first bytes of s followed by "... (N bytes)".
func Quote(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	n := keep
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // do not cut a rune in half
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:n]), len(s))
}

// Long reports whether Quote abbreviates s.
func Long(s string) bool { return len(s) > Max }
