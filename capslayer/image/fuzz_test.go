package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// Placeholders the fuzz inputs use for what a fuzzer cannot compute:
// digests and sizes of the other blobs. fuzzLayout substitutes them.
const (
	phLayer        = "@LAYER@"         // sha256:<hex> of the layer bytes
	phLayerSize    = "@LAYER_SIZE@"    // its size
	phDiffID       = "@DIFFID@"        // sha256:<hex> of the layer decompressed
	phConfig       = "@CONFIG@"        // sha256:<hex> of the config
	phConfigSize   = "@CONFIG_SIZE@"   // its size
	phManifest     = "@MANIFEST@"      // sha256:<hex> of the manifest
	phManifestSize = "@MANIFEST_SIZE@" // its size
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func subst(b []byte, kv ...string) []byte {
	for i := 0; i < len(kv); i += 2 {
		b = bytes.ReplaceAll(b, []byte(kv[i]), []byte(kv[i+1]))
	}
	return b
}

// fuzzFS returns, in memory, an OCI image layout under base/ whose
// index.json, manifest, config and layer blob are the given bytes, after
// placeholder substitution, and the layer bytes as the file "layer": what
// Build reads with Options{FS: fuzzFS(...), Base: "base", Layers:
// []string{"layer"}}.
func fuzzFS(index, manifest, config, layer []byte) fstest.MapFS {
	diffID := sha(layer)
	if st, err := tarfs.Walk(bytes.NewReader(layer), func(string, *tar.Header) error { return nil }); err == nil {
		diffID = st.DiffID
	}
	config = subst(config, phLayer, sha(layer), phLayerSize, strconv.Itoa(len(layer)), phDiffID, diffID)
	manifest = subst(manifest, phLayer, sha(layer), phLayerSize, strconv.Itoa(len(layer)),
		phConfig, sha(config), phConfigSize, strconv.Itoa(len(config)))
	index = subst(index, phManifest, sha(manifest), phManifestSize, strconv.Itoa(len(manifest)),
		phConfig, sha(config), phConfigSize, strconv.Itoa(len(config)))
	fsys := fstest.MapFS{
		"base/oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		"base/index.json": {Data: index},
		"layer":           {Data: layer},
	}
	for _, b := range [][]byte{layer, config, manifest} {
		fsys["base/blobs/sha256/"+sha(b)[len("sha256:"):]] = &fstest.MapFile{Data: b}
	}
	return fsys
}

// fuzzSeeds are the inputs FuzzBuild starts from: a good base, the two
// layouts of issue 15 that crashed pickBase, and hostile variations of the
// index, manifest, config and layer.
func fuzzSeeds(t testing.TB) [][4][]byte {
	const (
		goodIndex    = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@MANIFEST@","size":@MANIFEST_SIZE@,"annotations":{"org.opencontainers.image.ref.name":"base"}}]}`
		goodManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"@CONFIG@","size":@CONFIG_SIZE@},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"@LAYER@","size":@LAYER_SIZE@}]}`
		goodConfig   = `{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["@LAYER@"]},"history":[{"created_by":"ADD rootfs.tar /"}]}`
	)
	layer := tartest.Tar(t, tartest.Dir("bin/"), tartest.File("bin/sh", "sh", nil),
		tartest.Dir("app/"), tartest.File("app/server", "\x7fELF", tartest.NetBindEP),
		tartest.Symlink("usr/bin", "/bin"))
	loop := tartest.Tar(t, tartest.Symlink("app", "app2"), tartest.Symlink("app2", "app"),
		tartest.Symlink("a/b", "../../../a/b"))
	whiteouts := tartest.Tar(t, tartest.File("app/.wh.server", "", nil), tartest.File("app/.wh..wh..opq", "", nil),
		tartest.File(".wh..wh..opq", "", nil), tartest.File("x/../../.wh.etc", "", nil))
	s := func(i, m, c string, l []byte) [4][]byte { return [4][]byte{[]byte(i), []byte(m), []byte(c), l} }
	nested := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"@MANIFEST@","size":@MANIFEST_SIZE@}]}`
	return [][4][]byte{
		s(goodIndex, goodManifest, goodConfig, layer),
		s(goodIndex, strings.Replace(goodManifest, "v1.tar", "v1.tar+gzip", 1), strings.Replace(goodConfig, phLayer, phDiffID, 1), tartest.Gzip(t, layer)),
		// Issue 15: no manifests; an entry typed as an index that is a manifest.
		s(`{"schemaVersion":2,"manifests":[]}`, goodManifest, goodConfig, layer),
		s(nested, goodManifest, goodConfig, layer),
		// An index of an index (the manifest blob holds an index).
		s(nested, `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@CONFIG@","size":@CONFIG_SIZE@}]}`, goodConfig, layer),
		// No media type: the blob says.
		s(`{"schemaVersion":2,"manifests":[{"digest":"@MANIFEST@","size":@MANIFEST_SIZE@}]}`, goodManifest, goodConfig, layer),
		// Two images, same platform; an artifact config.
		s(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@MANIFEST@","size":@MANIFEST_SIZE@},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@MANIFEST@","size":@MANIFEST_SIZE@,"annotations":{"org.opencontainers.image.ref.name":"other"}}]}`, goodManifest, goodConfig, layer),
		s(goodIndex, `{"schemaVersion":2,"config":{"mediaType":"application/vnd.example+json","digest":"@CONFIG@","size":@CONFIG_SIZE@},"layers":[]}`, goodConfig, layer),
		// Config and manifest disagree; no history; empty-layer history only;
		// null config; platform-less config.
		s(goodIndex, goodManifest, `{"rootfs":{"type":"layers","diff_ids":[]}}`, layer),
		s(goodIndex, goodManifest, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["@LAYER@"]}}`, layer),
		s(goodIndex, goodManifest, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["@LAYER@"]},"history":[{"empty_layer":true},{"empty_layer":true}]}`, layer),
		s(goodIndex, goodManifest, `null`, layer),
		s(goodIndex, goodManifest, `{"rootfs":{"diff_ids":["@LAYER@"]}}`, layer),
		// Wrong sizes and digests, a digest naming a path.
		s(goodIndex, `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"@CONFIG@","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"@LAYER@","size":1}]}`, goodConfig, layer),
		s(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1}]}`, goodManifest, goodConfig, layer),
		// Hostile layers: symlink loops, whiteouts in odd places, not a tar.
		s(goodIndex, goodManifest, goodConfig, loop),
		s(goodIndex, goodManifest, goodConfig, whiteouts),
		s(goodIndex, goodManifest, goodConfig, []byte("not a tar")),
		s(goodIndex, goodManifest, goodConfig, nil),
		s(`null`, ``, ``, nil),
	}
}

// FuzzBuild builds an image with Build from a base layout and a layer made
// of the fuzzer's bytes (index.json, manifest, config, layer blob, with
// placeholders for digests and sizes), the layer also added with
// Options.Layers, all in memory (fuzzFS, read through Options.FS). Build
// must never panic, and what it returns must be a consistent image. Seeds:
// fuzzSeeds and testdata/fuzz/FuzzBuild.
func FuzzBuild(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, index, manifest, config, layer []byte) {
		// One build per input: an absolute, a PATH-relative or a
		// workdir-relative entrypoint.
		eps := [][]string{{"/app/server"}, {"sh"}, {"../../app/server"}}
		ep := eps[len(index)%len(eps)]
		res, err := Build(Options{FS: fuzzFS(index, manifest, config, layer), Base: "base", Layers: []string{"layer"}, Entrypoint: ep, Created: epoch})
		if err != nil {
			return
		}
		m, err := res.Image.Manifest()
		if err != nil {
			t.Fatalf("built image has no manifest: %v", err)
		}
		cfg, err := res.Image.ConfigFile()
		if err != nil {
			t.Fatalf("built image has no config: %v", err)
		}
		if len(m.Layers) == 0 || len(m.Layers) != len(cfg.RootFS.DiffIDs) {
			t.Fatalf("%d layer descriptors, %d diff_ids", len(m.Layers), len(cfg.RootFS.DiffIDs))
		}
		if d := m.Layers[len(m.Layers)-1].Digest.String(); d != sha(layer) {
			t.Fatalf("added layer is %s, want the file's %s", d, sha(layer))
		}
		if _, err := imagemeta.Parse(cfg.Config.Labels[imagemeta.LabelCapabilities]); err != nil {
			t.Fatalf("built image has a bad capabilities label: %v", err)
		}
		if res.Executable == "" {
			t.Fatalf("entrypoint %v accepted without a resolved path", ep)
		}
	})
}

// TestFuzzSeedsCommitted checks that testdata/fuzz/FuzzBuild holds
// fuzzSeeds, in go test's corpus format (seedNNN; other files there are
// inputs the fuzzer found and stay). CAPSLAYER_WRITE_FUZZ_SEEDS=1 rewrites
// them.
func TestFuzzSeedsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzBuild")
	write := os.Getenv("CAPSLAYER_WRITE_FUZZ_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range fuzzSeeds(t) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range s {
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		}
		p := filepath.Join(dir, fmt.Sprintf("seed%03d", i))
		if write {
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, b.Bytes()) {
			t.Errorf("%s is not seed %d of fuzzSeeds (err %v): run CAPSLAYER_WRITE_FUZZ_SEEDS=1 go test -run TestFuzzSeedsCommitted ./capslayer/image", p, i, err)
		}
	}
}

// TestFuzzLayoutGoodSeeds checks that the harness builds real layouts: the
// first two seeds (plain and gzip base layer) are good bases, and Build
// makes the same image from the fuzzFS in memory as from its copy on disk.
func TestFuzzLayoutGoodSeeds(t *testing.T) {
	for i, s := range fuzzSeeds(t)[:2] {
		fsys := fuzzFS(s[0], s[1], s[2], s[3])
		o := Options{FS: fsys, Base: "base", Layers: []string{"layer"}, Entrypoint: []string{"/app/server"}, Created: epoch}
		mem, err := Build(o)
		if err != nil || mem.Executable != "/app/server" || !strings.HasPrefix(mem.Base, "base@sha256:") {
			t.Fatalf("seed %d: %v %+v", i, err, mem)
		}
		dir := t.TempDir()
		if err := os.CopyFS(dir, fsys); err != nil {
			t.Fatal(err)
		}
		o.FS, o.Base, o.Layers = nil, filepath.Join(dir, "base"), []string{filepath.Join(dir, "layer")}
		disk, err := Build(o)
		if err != nil {
			t.Fatalf("seed %d on disk: %v", i, err)
		}
		dm, _ := disk.Image.Digest()
		mm, err := mem.Image.Digest()
		if err != nil || dm != mm || disk.Base != mem.Base || disk.Executable != mem.Executable {
			t.Errorf("seed %d: in memory %s %s (%v), on disk %s %s", i, mm, mem.Base, err, dm, disk.Base)
		}
	}
}
