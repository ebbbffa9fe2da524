package image

import (
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// TestSymlinkedParentDirectory: a later layer writes (or whites out) under a
// directory that a lower layer made a symlink. Runtimes follow the symlink,
// so the capability file at the symlink's target is replaced (removed):
// image's warning and inspect's verdict (which audit reads) must agree.
// Before the one filesystem model, inspect compared literal paths and
// reported /usr/lib/ping as visible while image warned it was hidden.
func TestSymlinkedParentDirectory(t *testing.T) {
	base := tartest.Tar(t,
		tartest.Dir("usr/"), tartest.Dir("usr/lib/"),
		tartest.File("usr/lib/ping", "\x7fELF ping", tartest.NetBindEP),
		tartest.File("usr/lib/keep", "\x7fELF keep", tartest.NetBindEP),
		tartest.Symlink("lib", "usr/lib"))
	for _, tc := range []struct {
		name  string
		upper tartest.Entry
	}{
		{"overwritten through /lib", tartest.File("lib/ping", "plain file", nil)},
		{"whited out through /lib", tartest.File("lib/.wh.ping", "", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l0 := tartest.WriteFile(t, "l0.tar", base)
			l1 := tartest.WriteFile(t, "l1.tar", tartest.Tar(t, tc.upper))
			res := build(t, Options{Layers: []string{l0, l1}})
			var warned []string
			for _, w := range res.Warnings {
				if strings.Contains(w, "hidden by a later layer") {
					warned = append(warned, w)
				}
			}
			if len(warned) != 1 || !strings.Contains(warned[0], "/usr/lib/ping (layer 0)") {
				t.Errorf("image warnings = %q, want one for /usr/lib/ping", res.Warnings)
			}
			im, err := inspect.Scan(inspect.Source{Name: "built", Image: res.Image})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, f := range im.Files() {
				got[f.Path] = f.ShadowedBy
			}
			if got["/usr/lib/ping"] != 1 || got["/usr/lib/keep"] != -1 || len(got) != 2 {
				t.Errorf("inspect: shadowed by = %v, want /usr/lib/ping:1 /usr/lib/keep:-1", got)
			}
		})
	}
}
