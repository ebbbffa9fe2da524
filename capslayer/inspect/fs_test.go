package inspect

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestPathFSMatchesPath reads each kind of input on disk with Path and, as
// the fuzz targets do, from an fs.FS with PathFS (os.DirFS, and the same
// bytes in an fstest.MapFS): the reports are equal but for their Source.
func TestPathFSMatchesPath(t *testing.T) {
	ls := shadowLayers(t)
	img := testImage(t, "linux/amd64", ls...)
	root := t.TempDir()
	layout := writeLayoutAt(t, filepath.Join(root, "layout"), map[string]v1.Image{"app:1": img})
	writeFile(t, filepath.Join(root, "oci.tar"), tarDir(t, layout))
	tag, _ := name.NewTag("example.com/app:v1")
	if err := tarball.WriteToFile(filepath.Join(root, "save.tar"), tag, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "layer.tar"), ls[0])
	mem := fstest.MapFS{}
	if err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(root, p))
			mem[p] = &fstest.MapFile{Data: b}
			return err
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, kind string }{
		{"layout", KindOCILayout}, {"oci.tar", KindOCIArchive}, {"save.tar", KindDockerArchive}, {"layer.tar", KindLayer},
	} {
		want, err := Path(filepath.Join(root, tc.name))
		if err != nil || want.Kind != tc.kind || len(want.Images) == 0 || len(want.Images[0].Files()) == 0 {
			t.Fatalf("Path(%s): %v %+v", tc.name, err, want)
		}
		for fsName, fsys := range map[string]fs.FS{"os.DirFS": os.DirFS(root), "fstest.MapFS": mem} {
			got, err := PathFS(fsys, tc.name)
			if err != nil {
				t.Fatalf("PathFS(%s, %s): %v", fsName, tc.name, err)
			}
			if got.Source != tc.name {
				t.Errorf("PathFS(%s, %s): source %q", fsName, tc.name, got.Source)
			}
			got.Source = want.Source
			if !reflect.DeepEqual(got, want) {
				t.Errorf("PathFS(%s, %s) =\n%+v\nPath =\n%+v", fsName, tc.name, got, want)
			}
		}
	}
	kind, srcs, err := ImagesFS(mem, "save.tar")
	if err != nil || kind != KindDockerArchive || len(srcs) != 1 || srcs[0].Name != "example.com/app:v1" {
		t.Fatalf("ImagesFS: %v %s %+v", err, kind, srcs)
	}
}

// TestPathFSHostileCorpus reads the hostile corpus through PathFS over
// os.DirFS: the fs.FS route refuses every input as Path does (FIFOs,
// devices and directories where a file belongs, sizes that differ from
// descriptors), without blocking.
func TestPathFSHostileCorpus(t *testing.T) {
	for _, h := range append(hostileCorpus(), hostileUnix()...) {
		t.Run(h.name, func(t *testing.T) {
			dir := t.TempDir()
			rel, err := filepath.Rel(dir, h.make(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := PathFS(os.DirFS(dir), filepath.ToSlash(rel))
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("PathFS(%s) still running after 20 s: it hangs", h.name)
			}
			if err == nil || !strings.Contains(err.Error(), h.want) || (h.is != nil && !errors.Is(err, h.is)) {
				t.Fatalf("got %v, want an error with %q", err, h.want)
			}
		})
	}
}

// TestPathFSNotRegular: the files of an fs.FS are checked as the host's
// are: a FIFO, a device or a directory where index.json or a blob belongs
// is refused before it is opened.
func TestPathFSNotRegular(t *testing.T) {
	good := fstest.MapFS{}
	layout := writeLayoutAt(t, t.TempDir(), map[string]v1.Image{"app:1": testImage(t, "linux/amd64", makeTar(t, file("app/server", "x", netBindEP)))})
	blob, _ := layerBlobPath(t, layout)
	blob, _ = filepath.Rel(layout, blob)
	for _, p := range []string{"index.json", "oci-layout", blob} {
		b, err := os.ReadFile(filepath.Join(layout, p))
		if err != nil {
			t.Fatal(err)
		}
		good[filepath.ToSlash(p)] = &fstest.MapFile{Data: b}
	}
	// The manifest and config blobs too.
	ents, _ := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(layout, "blobs", "sha256", e.Name()))
		good["blobs/sha256/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	if _, err := PathFS(good, "."); err != nil {
		t.Fatalf("the good layout: %v", err)
	}
	for _, tc := range []struct {
		file string
		mode fs.FileMode
		want string
	}{
		{"index.json", fs.ModeNamedPipe, "a named pipe (FIFO)"},
		{filepath.ToSlash(blob), fs.ModeDevice | fs.ModeCharDevice, "a character device"},
		{filepath.ToSlash(blob), fs.ModeSocket, "a socket"},
	} {
		mem := fstest.MapFS{}
		for k, v := range good {
			mem[k] = v
		}
		mem[tc.file] = &fstest.MapFile{Data: good[tc.file].Data, Mode: tc.mode}
		if _, err := PathFS(mem, "."); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s as %v: got %v, want %q", tc.file, tc.mode, err, tc.want)
		}
	}
	if _, err := PathFS(fstest.MapFS{"input.tar": {Mode: fs.ModeNamedPipe}}, "input.tar"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a FIFO input: got %v", err)
	}
}
