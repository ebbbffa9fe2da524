package inspect

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// The readers' fuzz targets take the documents of an image as separate
// inputs and link them by placeholders that the target replaces with the
// real digests and sizes (@layer, @layersize, @diffid, @config,
// @configsize, @manifest, @manifestsize): a fuzzer cannot compute sha256,
// and without them it would only ever exercise "digest mismatch".

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fill(doc []byte, vars map[string]string) []byte {
	s := string(doc)
	for _, k := range []string{"@layersize", "@configsize", "@manifestsize", "@layer", "@diffid", "@config", "@manifest"} {
		s = strings.ReplaceAll(s, k, vars[k])
	}
	return []byte(s)
}

const (
	seedConfig   = `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:@diffid"]}}`
	seedManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:@config","size":@configsize},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:@layer","size":@layersize}]}`
	seedIndex    = `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:@manifest","size":@manifestsize,"annotations":{"org.opencontainers.image.ref.name":"app:1"}}]}`
)

// checkReport holds the promises of a report that Path returned.
func checkReport(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Images) == 0 {
		t.Fatal("a report without images and without an error")
	}
	for _, im := range rep.Images {
		for i, l := range im.Layers {
			if l.Index != i {
				t.Fatalf("layer %d has index %d", i, l.Index)
			}
			for _, f := range l.Files {
				if !strings.HasPrefix(f.Path, "/") || strings.Contains("/"+f.Path+"/", "/../") {
					t.Fatalf("unclean path %q", f.Path)
				}
				if f.Layer != i || f.ShadowedBy >= len(im.Layers) || (f.ShadowedBy >= 0 && f.ShadowedBy < i) {
					t.Fatalf("%s: layer %d, shadowed by %d of %d layers", f.Path, f.Layer, f.ShadowedBy, len(im.Layers))
				}
			}
		}
	}
}

// FuzzLayout reads OCI image layouts made of a fuzzed index.json, manifest,
// config and layer (linked by the placeholders), built in memory
// (fstest.MapFS, read with PathFS: the reader of Path, without a file
// system's cost per execution). It must never panic or hang; a layout it
// accepts holds at least one image and clean paths.
func FuzzLayout(f *testing.F) {
	layer := makeTar(f, dir("app/"), file("app/server", "x", netBindEP), entry{Name: "lib", Type: tar.TypeSymlink, Link: "app"}, file("lib/.wh.server", "", nil))
	f.Add([]byte(seedIndex), []byte(seedManifest), []byte(seedConfig), layer)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`), []byte(seedManifest), []byte(seedConfig), layer)
	f.Add([]byte(strings.Replace(seedIndex, "manifest.v1", "index.v1", 1)), []byte(seedManifest), []byte(seedConfig), layer)
	f.Add([]byte(seedIndex), []byte(strings.Replace(seedManifest, "@layersize", "1", 1)), []byte(seedConfig), layer[:len(layer)-512])
	f.Add([]byte(seedIndex), []byte(seedManifest), []byte(seedConfig), gzipBytes(f, layer))
	f.Fuzz(func(t *testing.T, index, manifest, config, layer []byte) {
		if len(index)+len(manifest)+len(config)+len(layer) > 1<<20 {
			return
		}
		vars := map[string]string{"@layer": sha256Hex(layer), "@layersize": fmt.Sprint(len(layer))}
		if dr, _, err := decompressAll(layer); err == nil {
			vars["@diffid"] = sha256Hex(dr)
		}
		config = fill(config, vars)
		vars["@config"], vars["@configsize"] = sha256Hex(config), fmt.Sprint(len(config))
		manifest = fill(manifest, vars)
		vars["@manifest"], vars["@manifestsize"] = sha256Hex(manifest), fmt.Sprint(len(manifest))
		fsys := fstest.MapFS{"index.json": {Data: fill(index, vars)}}
		for _, b := range [][]byte{layer, config, manifest} {
			fsys["blobs/sha256/"+sha256Hex(b)] = &fstest.MapFile{Data: b}
		}
		rep, err := PathFS(fsys, ".", tarfs.WithMaxLayerSize(1<<20), tarfs.WithMaxEntries(1<<14))
		if err == nil {
			checkReport(t, rep)
		}
	})
}

// FuzzDockerArchive reads docker save tarballs made of a fuzzed
// manifest.json, config and layer (config.json and layer.tar in the
// archive; @diffid in the config is the layer's), in memory (fstest.MapFS,
// read with PathFS). It must never panic or hang; an archive it accepts
// holds at least one image and clean paths.
func FuzzDockerArchive(f *testing.F) {
	layer := makeTar(f, dir("app/"), file("app/server", "x", netBindEP))
	man := `[{"Config":"config.json","RepoTags":["app:1"],"Layers":["layer.tar"]}]`
	f.Add([]byte(man), []byte(seedConfig), layer)
	f.Add([]byte(`[]`), []byte(seedConfig), layer)
	f.Add([]byte(`null`), []byte(seedConfig), layer)
	f.Add([]byte(`garbage{`), []byte(seedConfig), layer)
	f.Add([]byte(`[{"Config":"config.json","Layers":["layer.tar","layer.tar"]}]`), []byte(seedConfig), layer)
	f.Add([]byte(`[{"Config":"../config.json","Layers":["/layer.tar"]}]`), []byte(seedConfig), append(layer, layer...))
	f.Fuzz(func(t *testing.T, manifest, config, layer []byte) {
		if len(manifest)+len(config)+len(layer) > 1<<20 {
			return
		}
		vars := map[string]string{}
		if dr, _, err := decompressAll(layer); err == nil {
			vars["@diffid"] = sha256Hex(dr)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, m := range []struct {
			name string
			b    []byte
		}{{"manifest.json", manifest}, {"config.json", fill(config, vars)}, {"layer.tar", layer}} {
			tw.WriteHeader(&tar.Header{Name: m.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m.b))})
			tw.Write(m.b)
		}
		tw.Close()
		fsys := fstest.MapFS{"save.tar": {Data: buf.Bytes()}}
		rep, err := PathFS(fsys, "save.tar", tarfs.WithMaxLayerSize(1<<20), tarfs.WithMaxEntries(1<<14))
		if err == nil {
			checkReport(t, rep)
		}
	})
}

// decompressAll returns the decompressed bytes of b (at most 64 MiB).
func decompressAll(b []byte) ([]byte, compression.Compression, error) {
	r, c, err := compression.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, c, err
	}
	defer r.Close()
	out, err := readLimited(r, 64<<20, "layer")
	return out, c, err
}
