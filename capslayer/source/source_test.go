package source_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/source"
)

func writeLayout(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{inspect.AnnotationRefName: "example.com/app:1"})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// countingFS counts the opens of each name (Stat is not an open).
type countingFS struct {
	fs.FS
	mu    sync.Mutex
	opens map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	c.opens[name]++
	c.mu.Unlock()
	return c.FS.Open(name)
}

func (c *countingFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(c.FS, name) }

// TestLocalLayout: a layout is opened once (index.json and the manifest
// read once for Open and Read together), Open reads no layer, and Read
// verifies the label against the layers.
func TestLocalLayout(t *testing.T) {
	img := capsImage("/app/server", "cap_net_bind_service=ep", `{"/app/server":"cap_net_bind_service=ep"}`)
	dir := writeLayout(t, img)
	cfs := &countingFS{FS: os.DirFS(filepath.Dir(dir)), opens: map[string]int{}}
	in, err := source.OpenFS(cfs, "layout", source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range cfs.opens {
		if strings.Contains(n, "blobs/") && c > 0 && !isJSONBlob(t, img, n) {
			t.Errorf("Open read the layer blob %s", n)
		}
	}
	rep, err := in.Read()
	if err != nil {
		t.Fatal(err)
	}
	for n, c := range cfs.opens {
		if c != 1 && n != "layout" {
			t.Errorf("%s opened %d times, want once: %v", n, c, cfs.opens)
		}
	}
	if in.Kind != inspect.KindOCILayout || len(in.Images) != 1 || in.Images[0].Config == nil || in.Images[0].Metadata.Label == nil {
		t.Fatalf("input %+v", in)
	}
	im := rep.Images[0]
	if im.LabelOnly || im.FilesFrom() != inspect.FromLayer || len(im.Files()) != 1 || im.Files()[0].Path != "/app/server" || im.Name != "example.com/app:1" {
		t.Errorf("image %+v", im)
	}

	// The same image with a forged label: an error naming both values.
	forged := writeLayout(t, capsImage("/app/server", "cap_net_bind_service=ep", "{}"))
	_, _, err = source.Read(forged, source.Options{})
	if !errors.Is(err, imagemeta.ErrMismatch) || !strings.Contains(err.Error(), "does not list /app/server, the layers give it cap_net_bind_service=ep") {
		t.Errorf("forged label: %v", err)
	}
	// LabelOnly is honoured for local images too, and marks them.
	_, rep, err = source.Read(forged, source.Options{LabelOnly: true})
	if err != nil || !rep.Images[0].LabelOnly || len(rep.Images[0].Files()) != 0 {
		t.Errorf("forged label, LabelOnly: %v %+v", err, rep)
	}
	// An image without the label is read from its layers under LabelOnly.
	_, rep, err = source.Read(writeLayout(t, capsImage("/app/server", "cap_net_bind_service=ep", "")), source.Options{LabelOnly: true})
	if err != nil || rep.Images[0].LabelOnly || len(rep.Images[0].Files()) != 1 {
		t.Errorf("no label, LabelOnly: %v %+v", err, rep)
	}
}

func isJSONBlob(t *testing.T, img v1.Image, n string) bool {
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if strings.HasSuffix(n, l.Digest.Hex) {
			return false
		}
	}
	return true
}

// TestLayerAndArchive: a layer tar and a docker save tarball, read by the
// same entry.
func TestLayerAndArchive(t *testing.T) {
	img := capsImage("/app/server", "cap_net_raw=ep", `{"/app/server":"cap_net_raw=ep"}`)
	dir := t.TempDir()
	archive := filepath.Join(dir, "image.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	in, rep, err := source.Read(archive, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if in.Kind != inspect.KindDockerArchive || len(rep.Images) != 1 || len(rep.Images[0].Files()) != 1 || in.Images[0].Config.Config.Labels[imagemeta.LabelCapabilities] == "" {
		t.Errorf("archive: %+v %+v", in, rep)
	}
	ls, _ := img.Layers()
	rc, _ := ls[0].Uncompressed()
	lt := filepath.Join(dir, "layer.tar")
	f, _ := os.Create(lt)
	if _, err := f.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	f.Close()
	in, rep, err = source.Read(lt, source.Options{})
	if err != nil || in.Kind != inspect.KindLayer || len(in.Images) != 0 || len(rep.Images) != 1 || rep.Images[0].Files()[0].Path != "/app/server" {
		t.Errorf("layer: %v %+v %+v", err, in, rep)
	}
}

// TestPathNotReference: arguments written as paths are read from disk.
func TestPathNotReference(t *testing.T) {
	for _, arg := range []string{"./missing/path", "../example.com/app:1", "/example.com/app:1"} {
		_, err := source.Open(arg, source.Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v; want a no-such-file error", arg, err)
		}
	}
}
