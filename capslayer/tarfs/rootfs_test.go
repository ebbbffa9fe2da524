package tarfs

import (
	"archive/tar"
	"strings"
	"testing"
)

// fsEntry is one entry given to rootFS.Add; watched entries are those with
// watch set.
type fsEntry struct {
	layer int
	name  string
	typ   byte
	link  string
	watch bool
}

func replay(t *testing.T, es ...fsEntry) (*rootFS, map[string]int) {
	t.Helper()
	watched := map[*tar.Header]bool{}
	fs := newRootFS(func(_ string, hdr *tar.Header) bool { return watched[hdr] })
	ids := map[string]int{}
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o755}
		watched[hdr] = e.watch
		p, err := CleanName(e.name)
		if err != nil {
			t.Fatal(err)
		}
		a, err := fs.add(p, hdr, e.layer)
		if err != nil {
			t.Fatalf("add(%s): %v", e.name, err)
		}
		if a.ID >= 0 {
			ids[e.name] = a.ID
		}
	}
	return fs, ids
}

func TestRootFS(t *testing.T) {
	const reg, dir, sym, lnk = tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink
	for _, tc := range []struct {
		name    string
		entries []fsEntry
		want    map[string]int // watched entry -> hiddenBy
	}{
		{"a later layer writes through a symlinked parent", []fsEntry{
			{0, "usr/lib/x", reg, "", true}, {0, "lib", sym, "usr/lib", false},
			{1, "lib/x", reg, "", false}}, map[string]int{"usr/lib/x": 1}},
		{"an absolute symlink with .. beyond the root", []fsEntry{
			{0, "usr/lib/x", reg, "", true}, {0, "lib", sym, "/../../usr/lib", false},
			{1, "lib/.wh.x", reg, "", false}}, map[string]int{"usr/lib/x": 1}},
		{"a watched file written through a symlink, whited out at its target", []fsEntry{
			{0, "lib", sym, "usr/lib", false},
			{1, "lib/x", reg, "", true},
			{2, "usr/lib/.wh.x", reg, "", false}}, map[string]int{"lib/x": 2}},
		{"a dangling symlink parent is created at its target", []fsEntry{
			{0, "lib", sym, "usr/lib", false},
			{0, "lib/x", reg, "", true},
			{1, "usr/lib/x", reg, "", false}}, map[string]int{"lib/x": 1}},
		{"whiteouts spare the same layer", []fsEntry{
			{0, "a/x", reg, "", true},
			{1, "a/y", reg, "", true}, {1, "a/.wh..wh..opq", reg, "", false}, {1, ".wh.a", reg, "", false}},
			map[string]int{"a/x": 1, "a/y": -1}},
		{"a file written twice in one layer", []fsEntry{
			{0, "x", reg, "", true}, {0, "x", reg, "", true}}, map[string]int{"x": -1}},
		{"a non-directory replaces a directory", []fsEntry{
			{0, "a/b/x", reg, "", true}, {1, "a", reg, "", false}}, map[string]int{"a/b/x": 1}},
		{"a directory replaces a symlink", []fsEntry{
			{0, "usr/lib/x", reg, "", true}, {0, "lib", sym, "usr/lib", false},
			{1, "lib", dir, "", false}, {1, "lib/x", reg, "", false}}, map[string]int{"usr/lib/x": -1}},
		{"a hard link to a watched file is watched", []fsEntry{
			{0, "a", reg, "", true}, {0, "b", lnk, "a", false}, {1, ".wh.a", reg, "", false}},
			map[string]int{"a": 1, "b": -1}},
		{"the meta whiteouts remove nothing", []fsEntry{
			{0, "x", reg, "", true}, {1, ".wh..wh.plnk", reg, "", false}}, map[string]int{"x": -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, ids := replay(t, tc.entries...)
			if len(ids) != len(tc.want) {
				t.Fatalf("watched %v, want %v", ids, tc.want)
			}
			for name, want := range tc.want {
				id, ok := ids[name]
				if !ok {
					t.Fatalf("%s not watched (%v)", name, ids)
				}
				if got := fs.hiddenBy(id); got != want {
					t.Errorf("%s hidden by %d, want %d", name, got, want)
				}
			}
		})
	}
}

func TestRootFSLookup(t *testing.T) {
	fs := newRootFS(nil)
	for _, e := range []fsEntry{
		{0, "usr/bin/", tar.TypeDir, "", true}, {0, "usr/bin/server", tar.TypeReg, "", true},
		{0, "bin", tar.TypeSymlink, "usr/bin", true}, {0, "loop", tar.TypeSymlink, "loop/x", true},
	} {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o755}
		p, _ := CleanName(e.name)
		if _, err := fs.add(p, hdr, e.layer); err != nil {
			t.Fatal(err)
		}
	}
	n, rp, ok, err := fs.lookup("/bin/server", true)
	if err != nil || !ok || rp != "/usr/bin/server" || n.Type != tar.TypeReg || n.Mode != 0o755 {
		t.Errorf("lookup(/bin/server) = %+v %q %v %v", n, rp, ok, err)
	}
	if n, _, ok, _ := fs.lookup("/bin", false); !ok || n.Type != tar.TypeSymlink {
		t.Errorf("lookup(/bin, nofollow) = %+v %v", n, ok)
	}
	if _, _, _, err := fs.lookup("/loop/y", true); err == nil {
		t.Error("a symlink loop resolved")
	}
	// An entry below a symlink loop cannot be unpacked: an error.
	if _, err := fs.add("/loop/y", &tar.Header{Typeflag: tar.TypeReg}, 1); err == nil {
		t.Error("Add below a symlink loop succeeded")
	}
}

// A layer of a million symlinks took 250 MB: the stored symlinks are
// bounded, and a symlink replaced or removed no longer counts.
func TestRootFSSymlinkLimit(t *testing.T) {
	fs := newRootFS(nil)
	fs.maxSymlinks = 3
	add := func(p string, typ byte, layer int) error {
		_, err := fs.add(p, &tar.Header{Typeflag: typ, Linkname: "x"}, layer)
		return err
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		if err := add(p, tar.TypeSymlink, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := add("/d", tar.TypeSymlink, 0); err == nil || !strings.Contains(err.Error(), "more than 3 symlinks") {
		t.Fatalf("got %v", err)
	}
	if err := add("/.wh.a", tar.TypeReg, 1); err != nil {
		t.Fatal(err)
	}
	if err := add("/d", tar.TypeSymlink, 1); err != nil {
		t.Fatalf("after a whiteout: %v", err)
	}
}
