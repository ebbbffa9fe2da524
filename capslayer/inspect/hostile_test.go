package inspect

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The hostile corpus: inputs that broke the reader (issue 15), each built
// here in a temporary directory (no blob is committed) and named after
// what it is. Every one must fail with an error that says what is wrong,
// fast: none may be read as an image with nothing in it, and none may
// block. The table is also the fuzz targets' seed corpus.

// hostile is one input of the corpus: make builds it under dir and returns
// the path to read.
type hostile struct {
	name string
	make func(t testing.TB, dir string) string
	// want is a substring of the error; is, when set, an error it wraps.
	want string
	is   error
}

// goodLayout is a one-image layout whose single layer carries a capability.
func goodLayout(t testing.TB, dir string) string {
	return writeLayoutAt(t, dir, map[string]v1.Image{"app:1": testImage(t, "linux/amd64", makeTar(t, file("app/server", "x", netBindEP)))})
}

// layerBlobPath returns the path of the first layer blob of the layout at dir.
func layerBlobPath(t testing.TB, dir string) (string, v1.Descriptor) {
	t.Helper()
	var idx v1.IndexManifest
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &idx)
	mb, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", idx.Manifests[0].Digest.Hex))
	var m v1.Manifest
	json.Unmarshal(mb, &m)
	return filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Hex), m.Layers[0]
}

func tarOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name]))})
		tw.Write([]byte(files[name]))
	}
	tw.Close()
	return buf.Bytes()
}

func writeFile(t testing.TB, p string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func hostileCorpus() []hostile {
	good := func(t testing.TB) []byte { return makeTar(t, file("app/server", "x", netBindEP)) }
	other := func(t testing.TB) []byte { return makeTar(t, file("app/hidden", "y", netBindEP)) }
	return []hostile{
		{name: "layout_index_manifests_empty", is: ErrNoImage, want: "lists no image manifest",
			make: func(t testing.TB, dir string) string {
				writeIndexJSON(t, dir)
				return dir
			}},
		{name: "layout_index_entry_typed_index_pointing_at_manifest", want: "says application/vnd.oci.image.index.v1+json but the blob is application/vnd.oci.image.manifest.v1+json",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				var idx v1.IndexManifest
				b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
				json.Unmarshal(b, &idx)
				idx.Manifests[0].MediaType = types.OCIImageIndex
				writeIndexJSON(t, dir, idx.Manifests...)
				return dir
			}},
		{name: "docker_archive_manifest_garbage", want: "not a docker save manifest",
			make: func(t testing.TB, dir string) string {
				return writeFile(t, filepath.Join(dir, "a.tar"), tarOf(t, map[string]string{"manifest.json": "garbage{"}))
			}},
		{name: "docker_archive_manifest_null", is: ErrNoImage, want: "lists no image",
			make: func(t testing.TB, dir string) string {
				return writeFile(t, filepath.Join(dir, "a.tar"), tarOf(t, map[string]string{"manifest.json": "null"}))
			}},
		{name: "docker_archive_manifest_empty_array", is: ErrNoImage, want: "lists no image",
			make: func(t testing.TB, dir string) string {
				return writeFile(t, filepath.Join(dir, "a.tar"), tarOf(t, map[string]string{"manifest.json": "[]", "app/server": "x"}))
			}},
		{name: "docker_archive_manifest_entry_without_config", want: "names no Config",
			make: func(t testing.TB, dir string) string {
				return writeFile(t, filepath.Join(dir, "a.tar"), tarOf(t, map[string]string{"manifest.json": `[{"Layers":["l.tar"]}]`}))
			}},
		{name: "tar_missing_final_block", want: "the last of the two zero blocks that end an archive is missing",
			make: func(t testing.TB, dir string) string {
				b := good(t)
				return writeFile(t, filepath.Join(dir, "l.tar"), b[:len(b)-512])
			}},
		{name: "tar_missing_end_marker", want: "end-of-archive marker (two zero blocks) is missing",
			make: func(t testing.TB, dir string) string {
				b := good(t)
				return writeFile(t, filepath.Join(dir, "l.tar"), b[:len(b)-1024])
			}},
		{name: "tar_entries_after_end_marker", want: "data after the end-of-archive marker",
			make: func(t testing.TB, dir string) string {
				return writeFile(t, filepath.Join(dir, "l.tar"), append(good(t), other(t)...))
			}},
		{name: "tar_gzip_members_concatenated", want: "data after the end-of-archive marker",
			make: func(t testing.TB, dir string) string {
				return writeFile(t, filepath.Join(dir, "l.tar.gz"), append(gzipBytes(t, good(t)), gzipBytes(t, other(t))...))
			}},
		{name: "docker_archive_entries_after_end_marker", want: "data after the end-of-archive marker",
			make: func(t testing.TB, dir string) string {
				save := tarOf(t, map[string]string{"manifest.json": "[]"})
				return writeFile(t, filepath.Join(dir, "a.tar"), append(save, tarOf(t, map[string]string{"manifest.json": "[{}]"})...))
			}},
		{name: "layout_blob_symlink_to_dev_zero", is: ErrNotRegular, want: "a character device",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				p, _ := layerBlobPath(t, dir)
				os.Remove(p)
				if err := os.Symlink("/dev/zero", p); err != nil {
					testenv.SkipOrFail(t, "no symlinks (Windows without the privilege): %v", err)
				}
				return dir
			}},
		{name: "layout_blob_larger_than_descriptor", want: "but its descriptor says",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				p, _ := layerBlobPath(t, dir)
				f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
				f.Write(make([]byte, 512))
				f.Close()
				return dir
			}},
		{name: "layout_blob_smaller_than_descriptor", want: "but its descriptor says",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				p, d := layerBlobPath(t, dir)
				os.Truncate(p, d.Size-512)
				return dir
			}},
		{name: "layout_blob_is_a_directory", is: ErrNotRegular, want: "a directory",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				p, _ := layerBlobPath(t, dir)
				os.Remove(p)
				os.Mkdir(p, 0o755)
				return dir
			}},
		{name: "oci_archive_blob_larger_than_descriptor", want: "but its descriptor says",
			make: func(t testing.TB, dir string) string {
				l := filepath.Join(dir, "layout")
				goodLayout(t, l)
				p, _ := layerBlobPath(t, l)
				f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
				f.Write(make([]byte, 512))
				f.Close()
				return writeFile(t, filepath.Join(dir, "a.tar"), tarDir(t, l))
			}},
	}
}

func writeLayoutAt(t testing.TB, dir string, imgs map[string]v1.Image) string {
	t.Helper()
	src := writeLayout(t, imgs)
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHostileCorpus reads every input of the corpus: an error naming the
// problem, within a second (a FIFO or /dev/zero must not be read).
func TestHostileCorpus(t *testing.T) {
	for _, h := range append(hostileCorpus(), hostileUnix()...) {
		t.Run(h.name, func(t *testing.T) {
			dir := t.TempDir()
			p := h.make(t, dir)
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				_, err := Path(p)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("Path(%s) still running after 20 s: it hangs", h.name)
			}
			if err == nil || !strings.Contains(err.Error(), h.want) || (h.is != nil && !errors.Is(err, h.is)) {
				t.Fatalf("got %v, want an error with %q", err, h.want)
			}
			t.Logf("%s: %v (%v)", h.name, err, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestLayoutBlobSymlinkOutside documents the decision on blobs symlinked
// outside the layout (docs/inspect.md): followed, because Bazel's sandboxes
// and runfiles and rules_oci's tree artifacts are made of such symlinks,
// but only to a regular file of exactly the descriptor's size whose digest
// matches.
func TestLayoutBlobSymlinkOutside(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	goodLayout(t, dir)
	p, _ := layerBlobPath(t, dir)
	moved := filepath.Join(outside, "layer.tar")
	if err := os.Rename(p, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, p); err != nil {
		testenv.SkipOrFail(t, "no symlinks: %v", err)
	}
	if _, err := Path(dir); err != nil {
		t.Fatalf("a symlink to the right blob outside the layout: %v", err)
	}
	// The same symlink to another file is refused before it is read.
	other := writeFile(t, filepath.Join(outside, "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"))
	os.Remove(p)
	os.Symlink(other, p)
	if _, err := Path(dir); err == nil || !strings.Contains(err.Error(), "but its descriptor says") {
		t.Fatalf("got %v", err)
	}
}
