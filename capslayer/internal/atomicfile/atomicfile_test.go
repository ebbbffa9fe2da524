package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, path, want string }{
		{"ok", filepath.Join(dir, "out"), ""},
		{"empty", "", "path is empty"},
		{"directory", dir, "is a directory: give a file name, e.g. \"" + filepath.Join(dir, "x.tar") + "\""},
		{"no parent", filepath.Join(dir, "nope", "out"), "does not exist: create it first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check("--out", tc.path, "x.tar")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check(%q) = %v, want ErrOutput with %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestWriteFileLeavesOnlyTarget(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.sarif")
	for _, data := range []string{"one", "two"} {
		if err := WriteFile(out, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(out); string(b) != data {
			t.Errorf("content %q, want %q", b, data)
		}
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != Perm {
		t.Errorf("mode %v, want %v", fi.Mode(), Perm)
	}
	if n := names(t, dir); !slices.Equal(n, []string{"out.sarif"}) {
		t.Errorf("directory holds %q, want only out.sarif (no lock, no temporary)", n)
	}
}

// TestCreateRemovesStaleTemporaries plants what killed runs leave (and what
// older capslayer versions left: .NAME.tmp-DIGITS) beside files that only
// look similar, which must survive.
func TestCreateRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".l.tar.tmp-123", ".l.tar.tmp-4567890", ".l.tar.lock"}
	keep := []string{"l.tar.tmp-1", ".l.tar.tmp-", ".l.tar.tmp-12x", ".l.tar.tmp-1.tmp-2", ".l.tar.tmp-5.tmp-123", ".other.tmp-1", ".l.tar.json.tmp-9", ".l.tar.tmp-1.old.old"}
	for _, n := range append(slices.Clone(stale), keep...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, ".l.tar.tmp-77.old"), 0o755)
	os.WriteFile(filepath.Join(dir, ".l.tar.tmp-77.old", "blob"), []byte("x"), 0o644)
	if err := WriteFile(filepath.Join(dir, "l.tar"), []byte("layer")); err != nil {
		t.Fatal(err)
	}
	want := append([]string{"l.tar"}, keep...)
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("after a run: %q\nwant %q", got, want)
	}
}

func TestPairCommit(t *testing.T) {
	dir := t.TempDir()
	l, d := filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.json")
	for _, v := range []string{"A", "B"} {
		p, err := CreatePair(l, d)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(p.First, "layer "+v)
		fmt.Fprint(p.Second, "desc "+v)
		if err := p.Commit(); err != nil {
			t.Fatal(err)
		}
		lb, _ := os.ReadFile(l)
		db, _ := os.ReadFile(d)
		if string(lb) != "layer "+v || string(db) != "desc "+v {
			t.Errorf("pair %q %q, want version %s", lb, db, v)
		}
	}
	if n := names(t, dir); !slices.Equal(n, []string{"l.json", "l.tar"}) {
		t.Errorf("directory holds %q", n)
	}
	if _, err := CreatePair(l, "./"+l); err == nil {
		t.Error("CreatePair with one target twice succeeded")
	}
}

// TestPairDiscardKeepsOldPair: a failed write leaves the old pair intact.
func TestPairDiscardKeepsOldPair(t *testing.T) {
	dir := t.TempDir()
	l, d := filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.json")
	os.WriteFile(l, []byte("old layer"), 0o644)
	os.WriteFile(d, []byte("old desc"), 0o644)
	p, err := CreatePair(l, d)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(p.First, "half a lay")
	p.Discard()
	lb, _ := os.ReadFile(l)
	db, _ := os.ReadFile(d)
	if string(lb) != "old layer" || string(db) != "old desc" {
		t.Errorf("pair %q %q after Discard, want the old one", lb, db)
	}
	if n := names(t, dir); !slices.Equal(n, []string{"l.json", "l.tar"}) {
		t.Errorf("directory holds %q", n)
	}
}

func TestDirCommit(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "layout")
	for _, v := range []string{"1", "2"} {
		d, err := CreateDir(out)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d.Path, "index.json"), []byte(v), 0o644)
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "index.json")); string(b) != v {
			t.Errorf("index.json %q, want %q", b, v)
		}
		if fi, _ := os.Stat(out); fi.Mode().Perm() != DirPerm {
			t.Errorf("mode %v, want %v", fi.Mode(), DirPerm)
		}
	}
	if n := names(t, dir); !slices.Equal(n, []string{"layout"}) {
		t.Errorf("directory holds %q", n)
	}
}

// TestConcurrentWritersDoNotMix runs 30 writers of one pair at once, each
// writing its own version slowly: the pair must end matching, with nothing
// else left.
func TestConcurrentWritersDoNotMix(t *testing.T) {
	dir := t.TempDir()
	l, d := filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.json")
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			p, err := CreatePair(l, d)
			if err != nil {
				errs <- err
				return
			}
			for range 100 {
				fmt.Fprintf(p.First, "layer %d\n", i)
			}
			fmt.Fprintf(p.Second, "desc %d\n", i)
			errs <- p.Commit()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lb, _ := os.ReadFile(l)
	db, _ := os.ReadFile(d)
	var v int
	if _, err := fmt.Sscanf(string(db), "desc %d\n", &v); err != nil || string(lb) != strings.Repeat(fmt.Sprintf("layer %d\n", v), 100) {
		t.Errorf("descriptor %q does not match the layer (%d bytes, starting %q)", db, len(lb), lb[:min(len(lb), 20)])
	}
	if n := names(t, dir); !slices.Equal(n, []string{"l.json", "l.tar"}) {
		t.Errorf("directory holds %q", n)
	}
}
