package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestWriteFileAndDescriptor(t *testing.T) {
	for _, c := range []Compression{None, Gzip, Zstd} {
		t.Run(string(c), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "layer.tar")
			descPath := filepath.Join(dir, "layer.json")
			res, err := WriteFile(out, testFiles(), WithCompression(c), WithDescriptorFile(descPath))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(out)
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("output mode = %v, want 0644", fi.Mode().Perm())
			}
			js, err := os.ReadFile(descPath)
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				MediaType string `json:"mediaType"`
				Digest    string `json:"digest"`
				Size      int64  `json:"size"`
				DiffID    string `json:"diff_id"`
				Files     []struct {
					Path, Caps, Xattr, Mode string
				} `json:"files"`
			}
			if err := json.Unmarshal(js, &d); err != nil {
				t.Fatalf("descriptor is not JSON: %v\n%s", err, js)
			}
			// Recompute every digest from the bytes on disk.
			if want := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); d.Digest != want {
				t.Errorf("descriptor digest = %s, want %s", d.Digest, want)
			}
			if d.Size != int64(len(b)) {
				t.Errorf("descriptor size = %d, want %d", d.Size, len(b))
			}
			if want := fmt.Sprintf("sha256:%x", sha256.Sum256(decompress(t, c, b))); d.DiffID != want {
				t.Errorf("descriptor diff_id = %s, want %s", d.DiffID, want)
			}
			if d.MediaType != string(compression.MediaType(c)) {
				t.Errorf("descriptor mediaType = %s, want %s", d.MediaType, compression.MediaType(c))
			}
			if len(d.Files) != 3 || d.Files[0].Path != "/app/server" || d.Files[0].Caps != "cap_net_bind_service=ep" ||
				d.Files[0].Xattr != "0100000200040000000000000000000000000000" || d.Files[2].Xattr != "" || d.Files[0].Mode != "0755" {
				t.Errorf("descriptor files = %+v", d.Files)
			}
			if want, _ := res.Descriptor.MarshalIndent(); !bytes.Equal(js, want) {
				t.Errorf("descriptor file = %s, want %s", js, want)
			}
			assertOnly(t, dir, "layer.json", "layer.tar")

			// go-containerregistry reads the layer and agrees on its
			// digests. (validate.Layer would also do, but needs
			// github.com/google/go-cmp listed in go.mod.)
			l, err := tarball.LayerFromFile(out, tarball.WithMediaType(compression.MediaType(c)))
			if err != nil {
				t.Fatal(err)
			}
			if diffID, err := l.DiffID(); err != nil || diffID.String() != d.DiffID {
				t.Errorf("ggcr DiffID = %v, %v; want %s", diffID, err, d.DiffID)
			}
			if c != None {
				if digest, err := l.Digest(); err != nil || digest.String() != d.Digest {
					t.Errorf("ggcr Digest = %v, %v; want %s", digest, err, d.Digest)
				}
				if size, err := l.Size(); err != nil || size != d.Size {
					t.Errorf("ggcr Size = %v, %v; want %d", size, err, d.Size)
				}
			}
		})
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestWriteFileReplacesAtomically overwrites an existing layer, and on a
// failure leaves the old one alone.
func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "layer.tar")
	os.WriteFile(out, []byte("old"), 0o600)
	bad := []File{{Path: "/a", Source: filepath.Join(dir, "missing")}}
	if _, err := WriteFile(out, bad); err == nil {
		t.Fatal("WriteFile with a missing source succeeded")
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("failed WriteFile changed the existing output to %q", b)
	}
	if _, err := WriteFile(out, testFiles()); err != nil {
		t.Fatal(err)
	}
	want, _ := writeBytes(t, testFiles())
	if b, _ := os.ReadFile(out); !bytes.Equal(b, want) {
		t.Errorf("WriteFile output differs from Write")
	}
	assertOnly(t, dir, "layer.tar")
}

func TestWriteFileOutputErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, out, desc, want string
	}{
		{"output is dir", dir, "", "is a directory"},
		{"no such dir", filepath.Join(dir, "nope", "l.tar"), "", "does not exist: create it first"},
		{"descriptor is output", filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.tar"), "is the layer output too"},
		{"descriptor dir missing", filepath.Join(dir, "l.tar"), filepath.Join(dir, "nope", "d.json"), "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.desc != "" {
				opts = append(opts, WithDescriptorFile(tc.desc))
			}
			_, err := WriteFile(tc.out, testFiles(), opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WriteFile error = %v, want it to contain %q", err, tc.want)
			}
			assertOnly(t, dir)
		})
	}
}
