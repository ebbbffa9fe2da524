package inspect

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

func TestLocateStopsAtTheDecidingLayer(t *testing.T) {
	img := testImage(t, "linux/amd64",
		makeTar(t, dir("usr/"), dir("usr/bin/"), file("usr/bin/tool", "v1", nil)),
		makeTar(t, dir("usr/"), dir("usr/bin/"), file("usr/bin/tool", "v2", nil)),
		makeTar(t, dir("etc/"), file("etc/tool", "config", nil)),
	)
	loc, err := Locate(img, []string{"/usr/bin/tool"})
	if err != nil {
		t.Fatal(err)
	}
	f := loc.Files[0]
	if fmt.Sprint(loc.Searched) != "[2 1]" || f.Layer != 1 || f.Resolved != "/usr/bin/tool" || f.Entry != 2 {
		t.Errorf("searched %v, found layer %d entry %d at %s; want layers [2 1], layer 1 entry 2", loc.Searched, f.Layer, f.Entry, f.Resolved)
	}
}

func TestLocateRereadsWhenALowerSymlinkNamesADroppedEntry(t *testing.T) {
	// /a -> real is in the bottom layer; the top layer replaced /real by a
	// file, so /a/f does not exist. Reading the top layer first, the entry
	// "real" seemed unrelated to /a/f: Locate must read it again.
	img := testImage(t, "linux/amd64",
		makeTar(t, dir("real/"), file("real/f", "f", nil), entry{Name: "a", Type: '2', Link: "real"}),
		makeTar(t, file("real", "now a file", nil)),
	)
	_, err := Locate(img, []string{"/a/f"})
	if !errors.Is(err, tarfs.ErrLocate) || !strings.Contains(err.Error(), "/real is a regular file in layer 1, not a directory") {
		t.Errorf("got %v, want /real to be a file", err)
	}
}
