package layer

import (
	"path"
	"strings"
	"testing"
)

// FuzzCheckPath checks that every destination CheckPath accepts is one the
// tar layout can hold: absolute, clean, not the root, with a relative tar
// name that maps back to it.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/app/server", "/", "", "app", "/a/../b", "/a//b", "/a/", "/./a", "/a\x00", "/ü", "/a/b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p || strings.HasSuffix(p, "/") || strings.ContainsRune(p, 0) {
			t.Fatalf("CheckPath(%q) = nil for a path the layout cannot hold", p)
		}
		if name := p[1:]; "/"+name != p || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("tar name %q of %q is not relative", name, p)
		}
	})
}
