package inspect

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImage builds an OCI image from layer tars, uncompressed and unchanged.
func testImage(t testing.TB, plat string, layers ...[]byte) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	p, err := v1.ParsePlatform(plat)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		img, err = mutate.AppendLayers(img, static.NewLayer(l, types.OCIUncompressedLayer))
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func writeLayout(t testing.TB, imgs map[string]v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range sortedKeys(imgs) {
		if err := lp.AppendImage(imgs[tag], layout.WithAnnotations(map[string]string{AnnotationRefName: tag})); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// shadowLayers is a base layer with five capability files and a top layer
// that hides four of them in each of the ways a layer can.
func shadowLayers(t testing.TB) [][]byte {
	base := makeTar(t,
		dir("app/"), file("app/server", "v1", netBindEP),
		dir("bin/"), file("bin/ping", "ping", netRawEPv3),
		dir("opt/"), dir("opt/x/"), file("opt/x/tool", "t", netBindP),
		dir("data/"), file("data/y/helper", "h", netBindEP),
		file("keep/me", "k", netBindEP),
	)
	top := makeTar(t,
		file("app/server", "v2 without caps", nil),            // overwritten
		file("bin/.wh.ping", "", nil),                         // whiteout
		file("opt/x/.wh..wh..opq", "", nil),                   // opaque dir
		entry{Name: "data", Type: tar.TypeSymlink, Link: "/"}, // parent replaced by non-dir
		file("usr/bin/new", "n", netBindEP),
	)
	return [][]byte{base, top}
}

func summary(im Image) []string {
	var s []string
	for _, f := range im.Files() {
		s = append(s, fmt.Sprintf("L%d %s %s shadowed=%d", f.Layer, f.Path, f.Xattr, f.ShadowedBy))
	}
	return s
}

func TestLayoutShadowing(t *testing.T) {
	ls := shadowLayers(t)
	dir := writeLayout(t, map[string]v1.Image{"v1": testImage(t, "linux/arm64/v8", ls...)})
	rep, err := Path(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != KindOCILayout || len(rep.Images) != 1 {
		t.Fatalf("report %+v", rep)
	}
	im := rep.Images[0]
	want := []string{
		"L0 /app/server cap_net_bind_service=ep shadowed=1",
		"L0 /bin/ping cap_net_raw=ep [rootid=100000] shadowed=1",
		"L0 /opt/x/tool cap_net_bind_service=p shadowed=1",
		"L0 /data/y/helper cap_net_bind_service=ep shadowed=1",
		"L0 /keep/me cap_net_bind_service=ep shadowed=-1",
		"L1 /usr/bin/new cap_net_bind_service=ep shadowed=-1",
	}
	if got := summary(im); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if im.Name != "v1" || im.Platform != "linux/arm64/v8" {
		t.Errorf("image %q %q", im.Name, im.Platform)
	}
	img := testImage(t, "linux/arm64/v8", ls...)
	d, _ := img.Digest()
	if im.Digest != d.String() {
		t.Errorf("digest %s, want %s", im.Digest, d)
	}
	for i, l := range im.Layers {
		if l.Index != i || l.Digest != sha(ls[i]) || l.DiffID != sha(ls[i]) || l.MediaType != string(types.OCIUncompressedLayer) {
			t.Errorf("layer %d: %+v", i, l)
		}
	}
}

func TestMultiPlatformIndex(t *testing.T) {
	amd := testImage(t, "linux/amd64", makeTar(t, file("app/server", "amd", netBindEP)))
	arm := testImage(t, "linux/arm/v7", makeTar(t, file("app/server", "arm", netBindP)))
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}}},
	)
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{AnnotationRefName: "multi"})); err != nil {
		t.Fatal(err)
	}
	rep, err := Path(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range rep.Images {
		got = append(got, fmt.Sprintf("%s %s %v", im.Name, im.Platform, summary(im)))
	}
	want := []string{
		"multi linux/amd64 [L0 /app/server cap_net_bind_service=ep shadowed=-1]",
		"multi linux/arm/v7 [L0 /app/server cap_net_bind_service=p shadowed=-1]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDockerArchive(t *testing.T) {
	ls := shadowLayers(t)
	img := testImage(t, "linux/amd64", ls...)
	p := filepath.Join(t.TempDir(), "save.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	rep, err := Path(p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != KindDockerArchive || len(rep.Images) != 1 {
		t.Fatalf("report %+v", rep)
	}
	im := rep.Images[0]
	cfgName, _ := img.ConfigName()
	if im.Name != "example.com/app:v1" || im.Digest != cfgName.String() || im.Platform != "linux/amd64" {
		t.Errorf("image %q %q %q", im.Name, im.Digest, im.Platform)
	}
	if got := summary(im); len(got) != 6 || got[4] != "L0 /keep/me cap_net_bind_service=ep shadowed=-1" || got[0] != "L0 /app/server cap_net_bind_service=ep shadowed=1" {
		t.Errorf("files %v", got)
	}
	// The v1.Image of a docker archive serves its layers unchanged.
	_, srcs, err := Images(p)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := srcs[0].Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		mt, _ := l.MediaType()
		if d.String() != sha(ls[i]) || mt != types.OCIUncompressedLayer {
			t.Errorf("layer %d: %s %s", i, d, mt)
		}
	}
}

// TestDockerArchiveSymlinkedLayer mimics docker save before v25, which
// stores a repeated layer as a symlink to the first copy.
func TestDockerArchiveSymlinkedLayer(t *testing.T) {
	l := makeTar(t, file("app/server", "x", netBindEP))
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s","%s"]}}`, sha(l), sha(l))
	man := `[{"Config":"cfg.json","RepoTags":["app:latest"],"Layers":["a/layer.tar","b/layer.tar"]}]`
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name, link string
		body       []byte
	}{{"cfg.json", "", []byte(cfg)}, {"a/layer.tar", "", l}, {"b/layer.tar", "../a/layer.tar", nil}, {"manifest.json", "", []byte(man)}} {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		}
		tw.WriteHeader(hdr)
		tw.Write(e.body)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "save.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	rep, err := Path(p)
	if err != nil {
		t.Fatal(err)
	}
	got := summary(rep.Images[0])
	want := "[L0 /app/server cap_net_bind_service=ep shadowed=1 L1 /app/server cap_net_bind_service=ep shadowed=-1]"
	if fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestTamperedLayout(t *testing.T) {
	l := makeTar(t, file("app/server", "x", netBindEP))
	dir := writeLayout(t, map[string]v1.Image{"latest": testImage(t, "linux/amd64", l)})
	// Rewrite the layer blob in place: same size, capability removed.
	evil := makeTar(t, file("app/server", "x", nil))
	blob := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(sha(l), "sha256:"))
	if err := os.WriteFile(blob, evil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Path(dir)
	if err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("got %v, want a tampering error", err)
	}
}

// writeBlob stores b in the layout and returns its descriptor.
func writeBlob(t testing.TB, dir string, mt types.MediaType, b []byte) v1.Descriptor {
	t.Helper()
	s := sha256.Sum256(b)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", h.Hex), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: h}
}

func writeIndexJSON(t testing.TB, dir string, ds ...v1.Descriptor) {
	t.Helper()
	b, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: ds})
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func TestHostileLayouts(t *testing.T) {
	t.Run("deep nesting", func(t *testing.T) {
		dir := t.TempDir()
		d := writeBlob(t, dir, types.OCIImageIndex, []byte(`{"schemaVersion":2,"manifests":[]}`))
		for i := 0; i < 20; i++ {
			b, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}})
			d = writeBlob(t, dir, types.OCIImageIndex, b)
		}
		writeIndexJSON(t, dir, d)
		_, err := Path(dir)
		if !errors.Is(err, tarfs.ErrLimit) || !strings.Contains(err.Error(), "nested more than 8") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		// A blob cannot hold its own digest, so a cycle needs a lie: a
		// blob stored under a name that is not its digest.
		dir := t.TempDir()
		fake := v1.Descriptor{MediaType: types.OCIImageIndex, Size: 1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}
		b, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{fake}})
		for int64(len(b)) != fake.Size { // the size field changes the size
			fake.Size = int64(len(b))
			b, _ = json.Marshal(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{fake}})
		}
		os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", fake.Digest.Hex), b, 0o644)
		writeIndexJSON(t, dir, fake)
		_, err := Path(dir)
		if err == nil || !strings.Contains(err.Error(), "does not match its digest") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("blob path traversal", func(t *testing.T) {
		dir := t.TempDir()
		raw := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"sha256:../../../../etc/passwd"}]}`
		os.WriteFile(filepath.Join(dir, "index.json"), []byte(raw), 0o644)
		_, err := Path(dir)
		if err == nil || !strings.Contains(err.Error(), "index.json") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("huge index.json", func(t *testing.T) {
		dir := t.TempDir()
		f, _ := os.Create(filepath.Join(dir, "index.json"))
		f.Truncate(maxJSONSize + 1)
		f.Close()
		_, err := Path(dir)
		if !errors.Is(err, tarfs.ErrLimit) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("layers and diff_ids disagree", func(t *testing.T) {
		dir := t.TempDir()
		l := makeTar(t, file("x", "x", nil))
		ld := writeBlob(t, dir, types.OCIUncompressedLayer, l)
		cd := writeBlob(t, dir, types.OCIConfigJSON, []byte(`{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}`))
		mb, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{ld}})
		writeIndexJSON(t, dir, writeBlob(t, dir, types.OCIManifestSchema1, mb))
		_, err := Path(dir)
		if err == nil || !strings.Contains(err.Error(), "1 layers but the config has 0 diff_ids") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("artifact skipped", func(t *testing.T) {
		dir := t.TempDir()
		cd := writeBlob(t, dir, "application/vnd.in-toto+json", []byte(`{}`))
		mb, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: []v1.Descriptor{}})
		md := writeBlob(t, dir, types.OCIManifestSchema1, mb)
		writeIndexJSON(t, dir, md)
		// Only an artifact: no image to read is an error, not an empty
		// report (issue 15).
		if _, err := Path(dir); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "only artifacts") {
			t.Fatalf("artifact only: got %v", err)
		}
		img := writeLayout(t, map[string]v1.Image{"app:1": testImage(t, "linux/amd64", makeTar(t, file("x", "x", nil)))})
		idx, err := os.ReadFile(filepath.Join(img, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		var im v1.IndexManifest
		json.Unmarshal(idx, &im)
		for _, name := range []string{"blobs/sha256/" + cd.Digest.Hex, "blobs/sha256/" + md.Digest.Hex} {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			os.WriteFile(filepath.Join(img, name), b, 0o644)
		}
		writeIndexJSON(t, img, append(im.Manifests, md)...)
		rep, err := Path(img)
		if err != nil || len(rep.Images) != 1 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "in-toto") {
			t.Fatalf("got %v %+v", err, rep)
		}
	})
}

// tarDir packs a directory into a tar, as an oci-archive holds a layout.
func tarDir(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr, _ := tar.FileInfoHeader(fi, "")
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			tw.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}

func TestOCIArchive(t *testing.T) {
	ls := shadowLayers(t)
	dir := writeLayout(t, map[string]v1.Image{"v1": testImage(t, "linux/amd64", ls...)})
	fromDir, err := Path(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "oci.tar")
	os.WriteFile(p, tarDir(t, dir), 0o644)
	fromTar, err := Path(p)
	if err != nil {
		t.Fatal(err)
	}
	if fromTar.Kind != KindOCIArchive || fmt.Sprint(summary(fromTar.Images[0])) != fmt.Sprint(summary(fromDir.Images[0])) || fromTar.Images[0].Digest != fromDir.Images[0].Digest {
		t.Fatalf("oci-archive %+v\nlayout %+v", fromTar, fromDir)
	}
}
