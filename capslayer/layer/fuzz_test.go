package layer

import (
	"path"
	"strings"
	"testing"
	"unicode"
)

// FuzzCheckPath checks that every destination CheckPath accepts is one the
// tar layout can hold: absolute, clean, not the root, with a relative tar
// name that maps back to it.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/app/server", "/", "", "app", "/a/../b", "/a//b", "/a/", "/./a", "/a\x00", "/ü", "/a/b/c/d", "/a/.wh.b", "/a\nb", "/a/\x1b[0m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p || strings.HasSuffix(p, "/") || strings.ContainsRune(p, 0) {
			t.Fatalf("CheckPath(%q) = nil for a path the layout cannot hold", p)
		}
		if len(p) > MaxPathLen || strings.Contains(p, "/.wh.") || strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("CheckPath(%q) = nil for a path over the limits, with a whiteout name or a non-printable character", p)
		}
		for _, c := range strings.Split(p, "/") {
			if len(c) > MaxComponentLen {
				t.Fatalf("CheckPath(%q) = nil with a %d-byte name", p, len(c))
			}
		}
		if name := p[1:]; "/"+name != p || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("tar name %q of %q is not relative", name, p)
		}
	})
}
