package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/internal/tartest"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var epoch = time.Unix(0, 0).UTC()

func capsLayer(t *testing.T) []byte {
	return tartest.Tar(t, tartest.Dir("app/"), tartest.File("app/server", "\x7fELF server", tartest.NetBindEP))
}

func build(t *testing.T, o Options) *Result {
	t.Helper()
	if o.Created.IsZero() {
		o.Created = epoch
	}
	res, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, res.Image)
	return res
}

// checkImage checks that the manifest, config and layer blobs agree (what
// go-containerregistry's validate.Image does, without its go-cmp dependency).
func checkImage(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := img.RawConfigFile()
	if m.Config.Digest.String() != tartest.Digest(rc) || m.Config.Size != int64(len(rc)) {
		t.Fatalf("config descriptor %+v does not match the config", m.Config)
	}
	cfg, _ := img.ConfigFile()
	ls, _ := img.Layers()
	if len(ls) != len(m.Layers) || len(ls) != len(cfg.RootFS.DiffIDs) {
		t.Fatalf("%d layers, %d descriptors, %d diff_ids", len(ls), len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range ls {
		r, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		u, _ := l.Uncompressed()
		ub, _ := io.ReadAll(u)
		u.Close()
		if m.Layers[i].Digest.String() != tartest.Digest(b) || m.Layers[i].Size != int64(len(b)) || cfg.RootFS.DiffIDs[i].String() != tartest.Digest(ub) {
			t.Fatalf("layer %d: descriptor %+v, diff_id %s do not match the blob", i, m.Layers[i], cfg.RootFS.DiffIDs[i])
		}
	}
}

func TestLayersAddedUnchanged(t *testing.T) {
	raw := capsLayer(t)
	for _, tc := range []struct {
		name string
		blob []byte
		mt   types.MediaType
	}{
		{"layer.tar", raw, types.OCIUncompressedLayer},
		{"layer.tar.gz", tartest.Gzip(t, raw), types.OCILayer},
		{"layer.tar.zst", tartest.Zstd(t, raw), types.OCILayerZStd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tartest.WriteFile(t, tc.name, tc.blob)
			res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}})
			ls, err := res.Image.Layers()
			if err != nil {
				t.Fatal(err)
			}
			l := ls[0]
			d, _ := l.Digest()
			diffID, _ := l.DiffID()
			mt, _ := l.MediaType()
			if d.String() != tartest.Digest(tc.blob) || diffID.String() != tartest.Digest(raw) || mt != tc.mt {
				t.Errorf("layer %s %s %s; want digest %s diff_id %s %s", d, diffID, mt, tartest.Digest(tc.blob), tartest.Digest(raw), tc.mt)
			}
			// The blob written to a layout is the file, byte for byte.
			dir := filepath.Join(t.TempDir(), "out")
			if err := WriteLayout(dir, res.Image, nil, &res.Platform); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Hex))
			if err != nil || !bytes.Equal(got, tc.blob) {
				t.Fatalf("layout blob differs from the layer file (err %v)", err)
			}
			if got := tartest.PAXRecords(t, raw)["/app/server"]; !bytes.Equal(got, tartest.NetBindEP) {
				t.Fatalf("fixture lost its record: %x", got)
			}
		})
	}
}

func TestReproducible(t *testing.T) {
	raw := capsLayer(t)
	var digests []string
	for i := 0; i < 2; i++ {
		// Different host paths for the same bytes must not matter.
		p := tartest.WriteFile(t, "layer-copy-"+string(rune('a'+i))+".tar", raw)
		res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}, User: ptr("1000")})
		d, _ := res.Image.Digest()
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Fatalf("digests differ: %v", digests)
	}
	p := tartest.WriteFile(t, "l.tar", raw)
	res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}, User: ptr("1000")})
	cfg, _ := res.Image.RawConfigFile()
	want := `{"architecture":"amd64","created":"1970-01-01T00:00:00Z","history":[{"created":"1970-01-01T00:00:00Z","created_by":"capslayer image --layer /app/server","comment":"file capabilities: /app/server cap_net_bind_service=ep"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["` + tartest.Digest(raw) + `"]},"config":{"Entrypoint":["/app/server"],"Labels":{"io.capslayer.capabilities":"{\"/app/server\":\"cap_net_bind_service=ep\"}"},"User":"1000"}}`
	if string(cfg) != want {
		t.Errorf("config\n got %s\nwant %s", cfg, want)
	}
	m, _ := res.Image.RawManifest()
	wantM := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":` + itoa(len(cfg)) + `,"digest":"` + tartest.Digest(cfg) + `"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":` + itoa(len(raw)) + `,"digest":"` + tartest.Digest(raw) + `","annotations":{"io.capslayer.capabilities":"{\"/app/server\":\"cap_net_bind_service=ep\"}"}}]}`
	if string(m) != wantM {
		t.Errorf("manifest\n got %s\nwant %s", m, wantM)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func ptr(s string) *string { return &s }

func TestCreated(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1700000000": 1700000000, "2023-11-14T22:13:20Z": 1700000000} {
		got, err := ParseCreated(in)
		if err != nil || got.Unix() != want {
			t.Errorf("ParseCreated(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseCreated("last tuesday"); err == nil {
		t.Error("bad --created accepted")
	}
}

// baseLayout writes a base image with a docker-typed layer, an empty-layer
// history entry, Cmd, Env and a label, for several platforms.
func baseLayout(t *testing.T, plats ...string) (string, [][]byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "base")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	var blobs [][]byte
	for _, plat := range plats {
		p, _ := v1.ParsePlatform(plat)
		l := tartest.Tar(t, tartest.Dir("bin/"), tartest.File("bin/sh", "shell "+plat, nil),
			tartest.Dir("usr/"), tartest.Dir("usr/bin/"), tartest.File("usr/bin/ping", "ping", tartest.NetBindEP))
		gz := tartest.Gzip(t, l)
		blobs = append(blobs, gz)
		img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		cf.Author = "someone@example.com"
		cf.Config.Cmd = []string{"/bin/sh"}
		cf.Config.Env = []string{"PATH=/usr/bin:/bin", "LANG=C"}
		cf.Config.Labels = map[string]string{"base": "yes"}
		cf.History = []v1.History{{CreatedBy: "ENV LANG=C", EmptyLayer: true}}
		img, _ = mutate.ConfigFile(img, cf)
		// LayerFromOpener, not LayerFromReader: that one buffers the bytes in a
		// temporary file it never removes.
		gzl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil }, tarball.WithMediaType(types.DockerLayer))
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:   gzl,
			History: v1.History{CreatedBy: "ADD rootfs.tar /"},
		})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	if len(adds) == 1 {
		err = lp.AppendImage(adds[0].Add.(v1.Image), layout.WithAnnotations(map[string]string{inspect.AnnotationRefName: "base"}))
	} else {
		err = lp.AppendIndex(mutate.AppendManifests(empty.Index, adds...), layout.WithAnnotations(map[string]string{inspect.AnnotationRefName: "base"}))
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir, blobs
}

func TestBaseLayout(t *testing.T) {
	base, blobs := baseLayout(t, "linux/amd64", "linux/arm64/v8")
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	res := build(t, Options{
		Base: base, Platform: "linux/arm64", Layers: []string{p},
		Entrypoint: []string{"/app/server"}, Env: []string{"LANG=C.UTF-8", "APP=1"},
		Labels: map[string]string{"app": "server"}, ExposedPorts: []string{"80", "53/udp"},
		WorkingDir: ptr("/app"),
	})
	if res.Platform.String() != "linux/arm64/v8" {
		t.Errorf("platform %s", res.Platform)
	}
	ls, _ := res.Image.Layers()
	m, _ := res.Image.Manifest()
	if len(ls) != 2 || m.Layers[0].Digest.String() != tartest.Digest(blobs[1]) || m.Layers[0].MediaType != types.OCILayer {
		t.Fatalf("base layer not kept: %+v", m.Layers)
	}
	cfg, _ := res.Image.ConfigFile()
	c := cfg.Config
	if strings.Join(c.Entrypoint, " ") != "/app/server" || c.Cmd != nil {
		t.Errorf("entrypoint %v cmd %v (setting the entrypoint clears the base's cmd)", c.Entrypoint, c.Cmd)
	}
	if strings.Join(c.Env, " ") != "PATH=/usr/bin:/bin LANG=C.UTF-8 APP=1" {
		t.Errorf("env %v", c.Env)
	}
	if c.Labels["base"] != "yes" || c.Labels["app"] != "server" || len(c.ExposedPorts) != 2 || c.WorkingDir != "/app" {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ports %v", c.ExposedPorts)
	}
	if cfg.Author != "" || !cfg.Created.Equal(epoch) {
		t.Errorf("author %q created %v", cfg.Author, cfg.Created)
	}
	var hist []string
	for _, h := range cfg.History {
		hist = append(hist, h.CreatedBy)
	}
	if strings.Join(hist, "|") != "ENV LANG=C|ADD rootfs.tar /|capslayer image --layer /app/server" {
		t.Errorf("history %q", hist)
	}
	if len(res.Files) != 2 || res.Files[0].Path != "/usr/bin/ping" || res.Files[1].Path != "/app/server" || res.Files[1].Layer != 1 {
		t.Errorf("files %+v", res.Files)
	}
}

func TestBaseSelectionErrors(t *testing.T) {
	multi, _ := baseLayout(t, "linux/amd64", "linux/arm/v7")
	single, _ := baseLayout(t, "linux/amd64")
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"multi without platform", Options{Base: multi}, "holds 2 images"},
		{"multi wrong platform", Options{Base: multi, Platform: "linux/s390x"}, "no image for platform linux/s390x; it has: base (linux/amd64), base (linux/arm/v7)"},
		{"multi wrong variant", Options{Base: multi, Platform: "linux/arm/v6"}, "no image for platform linux/arm/v6"},
		{"single other platform", Options{Base: single, Platform: "linux/arm64"}, "no image for platform linux/arm64"},
		{"unknown ref", Options{Base: single, BaseRef: "nope"}, `no image "nope"`},
		{"not an image", Options{Base: p}, "single layer tar, not an image"},
		{"missing", Options{Base: filepath.Join(t.TempDir(), "nothing")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Layers, tc.o.Entrypoint = []string{p}, []string{"/app/server"}
			_, err := Build(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	res := build(t, Options{Base: multi, Platform: "linux/arm/v7", Layers: []string{p}, Entrypoint: []string{"/app/server"}})
	if res.Platform.String() != "linux/arm/v7" {
		t.Errorf("picked %s", res.Platform)
	}
	res = build(t, Options{Base: single, BaseRef: "base", Layers: []string{p}, Entrypoint: []string{"/app/server"}})
	if res.Platform.String() != "linux/amd64" {
		t.Errorf("picked %s", res.Platform)
	}
}

func TestDockerArchiveBase(t *testing.T) {
	// docker save stores plain tars; they must stay plain, not be gzipped
	// as go-containerregistry's tarball.Image would serve them.
	l := tartest.Tar(t, tartest.File("bin/sh", "sh", nil))
	img, _ := mutate.AppendLayers(empty.Image, static.NewLayer(l, types.DockerUncompressedLayer))
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, _ = mutate.ConfigFile(img, cf)
	save := filepath.Join(t.TempDir(), "save.tar")
	tag, _ := name.NewTag("base:1")
	if err := tarball.WriteToFile(save, tag, img); err != nil {
		t.Fatal(err)
	}
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	res := build(t, Options{Base: save, Layers: []string{p}, Entrypoint: []string{"/app/server"}})
	m, _ := res.Image.Manifest()
	if m.Layers[0].Digest.String() != tartest.Digest(l) || m.Layers[0].MediaType != types.OCIUncompressedLayer {
		t.Fatalf("base layer %+v, want the plain tar %s", m.Layers[0], tartest.Digest(l))
	}
}

func TestEntrypointCheck(t *testing.T) {
	base := tartest.Tar(t,
		tartest.Dir("opt/"), tartest.Dir("opt/app/"), tartest.File("opt/app/server", "x", tartest.NetBindEP),
		tartest.Symlink("app", "opt/app"),
		tartest.Dir("usr/"), tartest.Dir("usr/bin/"), tartest.File("usr/bin/tool", "t", nil),
		tartest.Symlink("bin", "usr/bin"),
		tartest.Entry{Name: "etc/config", Type: tar.TypeReg, Mode: 0o644, Body: "c"},
		tartest.File("gone/server", "g", tartest.NetBindEP),
		tartest.Dir("opq/"), tartest.File("opq/server", "o", nil),
	)
	top := tartest.Tar(t,
		tartest.File("gone/.wh.server", "", nil),
		tartest.File("opq/.wh..wh..opq", "", nil),
		tartest.File("bin/new", "n", nil), // lands in /usr/bin through the symlink
	)
	bp, tp := tartest.WriteFile(t, "base.tar", base), tartest.WriteFile(t, "top.tar", top)
	layers := []string{bp, tp}
	for _, tc := range []struct {
		argv    []string
		workdir string
		want    string // resolved path, or error text
	}{
		{[]string{"/app/server"}, "", "/opt/app/server"},
		{[]string{"tool"}, "", "/usr/bin/tool"},
		{[]string{"/usr/bin/new"}, "", "/usr/bin/new"},
		{[]string{"./server"}, "/opt/app", "/opt/app/server"},
		{[]string{"/app/serve"}, "", "error: /app/serve exists in no layer of the image"},
		{[]string{"/gone/server"}, "", "error: /gone/server exists in no layer"},
		{[]string{"/opq/server"}, "", "error: /opq/server exists in no layer"},
		{[]string{"/etc/config"}, "", "error: /etc/config is not executable (mode 0644)"},
		{[]string{"/opt/app"}, "", "error: /opt/app is not a regular file"},
		{[]string{"nosuch"}, "", `error: "nosuch" is in no directory of PATH`},
	} {
		o := Options{Layers: layers, Entrypoint: tc.argv, Created: epoch}
		if tc.workdir != "" {
			o.WorkingDir = &tc.workdir
		}
		res, err := Build(o)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = res.Executable
		}
		if !strings.HasPrefix(got, tc.want) && !strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) {
			t.Errorf("%v: got %q, want %q", tc.argv, got, tc.want)
		}
		if strings.HasPrefix(tc.want, "error") != (err != nil) {
			t.Errorf("%v: error %v, want %q", tc.argv, err, tc.want)
		}
	}
	// The overwritten capability file is reported.
	res, err := Build(Options{Layers: []string{bp, tartest.WriteFile(t, "t2.tar", tartest.Tar(t, tartest.File("opt/app/server", "new", nil)))}, Entrypoint: []string{"/app/server"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "/opt/app/server (layer 0) are hidden by a later layer") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestBadLayers(t *testing.T) {
	notTar := tartest.WriteFile(t, "notes.txt", []byte(strings.Repeat("not a tar\n", 100)))
	trunc := tartest.WriteFile(t, "t.tar", capsLayer(t)[:700])
	for _, tc := range []struct {
		path, want string
	}{
		{notTar, "notes.txt: inspect: not a tar archive"},
		{trunc, "truncated"},
		{t.TempDir(), "is a directory, not a regular file"},
		{filepath.Join(t.TempDir(), "missing.tar"), "no such file"},
	} {
		_, err := Build(Options{Layers: []string{tc.path}, Entrypoint: []string{"/app/server"}, Created: epoch})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.path, err, tc.want)
		}
	}
}

func TestWriteLayoutReplaceRules(t *testing.T) {
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}})
	parent := t.TempDir()
	out := filepath.Join(parent, "out")

	// A directory with other files is refused and left alone.
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	err := WriteLayout(out, res.Image, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(b) != "mine" {
		t.Fatal("refused output was modified")
	}
	os.RemoveAll(out)

	// A previous layout is replaced.
	tag, _ := ParseTag("example.com/app:v2")
	for i := 0; i < 2; i++ {
		if err := WriteLayout(out, res.Image, &tag, &res.Platform); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 {
		t.Errorf("leftovers beside the output: %v", ents)
	}
	idx, _ := os.ReadFile(filepath.Join(out, "index.json"))
	var im v1.IndexManifest
	json.Unmarshal(idx, &im)
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations[inspect.AnnotationRefName] != "v2" ||
		im.Manifests[0].Annotations[inspect.AnnotationContainerName] != "example.com/app:v2" || im.Manifests[0].Platform.String() != "linux/amd64" {
		t.Errorf("index.json %s", idx)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o755 {
		t.Errorf("layout dir mode %v", fi.Mode())
	}

	// A failing write leaves nothing behind: the layer file vanished.
	os.Remove(p)
	out2 := filepath.Join(parent, "out2")
	if err := WriteLayout(out2, res.Image, nil, nil); err == nil {
		t.Fatal("write of a vanished layer succeeded")
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("partial output left: %v", err)
	}
	ents, _ = os.ReadDir(parent)
	if len(ents) != 1 {
		t.Errorf("leftovers beside the output: %v", ents)
	}
}

func TestLayerChangedWhileWriting(t *testing.T) {
	raw := capsLayer(t)
	p := tartest.WriteFile(t, "l.tar", raw)
	res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}})
	changed := append([]byte{}, raw...)
	changed[600] ^= 1
	os.WriteFile(p, changed, 0o644)
	err := WriteLayout(filepath.Join(t.TempDir(), "o"), res.Image, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "changed while the image was written") {
		t.Fatalf("got %v", err)
	}
}

func TestTarballRoundTrip(t *testing.T) {
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}})
	tag, err := ParseTag("example.com/app")
	if err != nil || tag.String() != "example.com/app:latest" {
		t.Fatalf("tag %v %v", tag, err)
	}
	out := filepath.Join(t.TempDir(), "sub", "img.tar")
	if err := WriteTarball(out, res.Image, tag); err != nil {
		t.Fatal(err)
	}
	// Read back with go-containerregistry's docker-archive reader.
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := res.Image.ConfigName()
	if got, _ := img.ConfigName(); got != want {
		t.Errorf("config %s, want %s", got, want)
	}
	ls, _ := img.Layers()
	rc, _ := ls[0].Uncompressed()
	b, _ := io.ReadAll(rc)
	if got := tartest.PAXRecords(t, b)["/app/server"]; !bytes.Equal(got, tartest.NetBindEP) {
		t.Errorf("xattr in tarball layer: %x", got)
	}
	// And with inspect.
	rep, err := inspect.Path(out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != inspect.KindDockerArchive || rep.Images[0].Name != "example.com/app:latest" || len(rep.Images[0].Files()) != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestIndex(t *testing.T) {
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	var imgs []v1.Image
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		imgs = append(imgs, build(t, Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}, Platform: plat}).Image)
	}
	idx, err := Index(imgs)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Platform.String() != "linux/amd64" || im.Manifests[1].Platform.String() != "linux/arm64" {
		t.Errorf("index %+v", im)
	}
	if _, err := Index([]v1.Image{imgs[0], imgs[0]}); err == nil || !strings.Contains(err.Error(), "both for linux/amd64") {
		t.Errorf("duplicate platform: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "multi")
	if err := WriteIndexLayout(dir, idx, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := inspect.Path(dir)
	if err != nil || len(rep.Images) != 2 || rep.Images[1].Platform != "linux/arm64" || rep.Images[1].Name != "latest" {
		t.Fatalf("%v %+v", err, rep)
	}
}

// rewriteIndex replaces the index.json of the layout dir with the result of
// edit on its manifests.
func rewriteIndex(t *testing.T, dir string, edit func([]v1.Descriptor) []v1.Descriptor) {
	t.Helper()
	p := filepath.Join(dir, "index.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(b, &im); err != nil {
		t.Fatal(err)
	}
	im.Manifests = edit(im.Manifests)
	if b, err = json.Marshal(im); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Issue 15: `capslayer image --base L ...` with an L whose index.json has
// "manifests": [] panicked in pickBase (index out of range).
func TestBaseLayoutEmptyManifests(t *testing.T) {
	base, _ := baseLayout(t, "linux/amd64")
	rewriteIndex(t, base, func([]v1.Descriptor) []v1.Descriptor { return []v1.Descriptor{} })
	p := tartest.WriteFile(t, "good.tar", capsLayer(t))
	_, err := Build(Options{Base: base, Layers: []string{p}, Entrypoint: []string{"/app/server"}, Created: epoch})
	if !errors.Is(err, ErrNoBaseImage) || !strings.Contains(err.Error(), "base "+base+": the base holds no image") {
		t.Fatalf("got %v, want ErrNoBaseImage", err)
	}
}

// Issue 15: an index.json entry typed as an image index that points at an
// image manifest panicked in pickBase the same way.
func TestBaseLayoutIndexEntryPointingAtManifest(t *testing.T) {
	base, _ := baseLayout(t, "linux/amd64")
	rewriteIndex(t, base, func(ds []v1.Descriptor) []v1.Descriptor {
		ds[0].MediaType = types.OCIImageIndex
		return ds
	})
	p := tartest.WriteFile(t, "good.tar", capsLayer(t))
	_, err := Build(Options{Base: base, Layers: []string{p}, Entrypoint: []string{"/app/server"}, Created: epoch})
	if err == nil {
		t.Fatal("a base whose only entry is an index holding no manifest was accepted")
	}
	// The reader may refuse the mistyped entry itself; either way no panic
	// and no image built on nothing.
	if !errors.Is(err, ErrNoBaseImage) && !strings.Contains(err.Error(), "index") {
		t.Fatalf("got %v", err)
	}
}

func TestBuildErrorsAreTyped(t *testing.T) {
	multi, _ := baseLayout(t, "linux/amd64", "linux/arm/v7")
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	for _, tc := range []struct {
		o    Options
		want error
	}{
		{Options{Base: multi}, ErrBaseAmbiguous},
		{Options{Base: multi, Platform: "linux/s390x"}, ErrBasePlatformNotFound},
		{Options{Base: multi, BaseRef: "nope"}, ErrBaseRefNotFound},
		{Options{Entrypoint: []string{"/app/nope"}}, ErrEntrypointNotFound},
		{Options{Entrypoint: []string{"/app"}}, ErrEntrypointNotExecutable},
		{Options{Entrypoint: []string{}}, ErrEmptyEntrypoint},
	} {
		tc.o.Layers, tc.o.Created = []string{p}, epoch
		if tc.o.Entrypoint == nil {
			tc.o.Entrypoint = []string{"/app/server"}
		}
		_, err := Build(tc.o)
		if !errors.Is(err, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.o, err, tc.want)
		}
		for _, flagWord := range []string{"--", "check_entrypoint"} {
			if err != nil && strings.Contains(err.Error(), flagWord) {
				t.Errorf("%v: the library's error speaks of %q", err, flagWord)
			}
		}
	}
	_, err := Build(Options{Layers: []string{p}, Entrypoint: []string{"/app/nope"}, Created: epoch})
	var ee *EntrypointError
	if !errors.As(err, &ee) || ee.Argv0 != "/app/nope" || ee.Reason != "/app/nope exists in no layer of the image" {
		t.Errorf("got %#v", err)
	}
}

// Issue 16 §1: the config label lists the capability files of the final
// filesystem by their resolved path; each layer's descriptor lists its own.
func TestCapabilitiesMetadata(t *testing.T) {
	base, _ := baseLayout(t, "linux/amd64") // /usr/bin/ping cap_net_bind_service=ep
	netRaw := mustEncode(t, "cap_net_raw=p")
	v3 := mustEncodeV3(t, "cap_chown=ep", 100000)
	l1 := tartest.WriteFile(t, "l1.tar", tartest.Tar(t,
		tartest.Dir("opt/"), tartest.Dir("opt/app/"),
		tartest.Symlink("app", "opt/app"),
		tartest.File("app/server", "s", tartest.NetBindEP), // lands at /opt/app/server
		tartest.Entry{Name: "app/server-link", Type: tar.TypeLink, Link: "app/server", Mode: 0o755},
		tartest.File("tools/raw", "r", netRaw),
		tartest.File("tools/gone", "g", v3),
		tartest.File("tools/bad", "b", []byte{1, 2, 3}),
	))
	l2 := tartest.WriteFile(t, "l2.tar", tartest.Tar(t,
		tartest.File("tools/.wh.gone", "", nil),
		tartest.File("usr/bin/ping", "replaced, no caps", nil),
	))
	res := build(t, Options{Base: base, Layers: []string{l1, l2}, Entrypoint: []string{"/app/server"}})
	cfg, _ := res.Image.ConfigFile()
	want := `{"/opt/app/server":"cap_net_bind_service=ep","/opt/app/server-link":"cap_net_bind_service=ep","/tools/bad":"invalid:010203","/tools/raw":"cap_net_raw=p"}`
	if got := cfg.Config.Labels[imagemeta.LabelCapabilities]; got != want {
		t.Errorf("label\n got %s\nwant %s", got, want)
	}
	if cfg.Config.Labels["base"] != "yes" {
		t.Errorf("the base's labels were lost: %v", cfg.Config.Labels)
	}
	m, _ := res.Image.Manifest()
	wantAnn := []string{
		`{"/usr/bin/ping":"cap_net_bind_service=ep"}`,
		`{"/app/server":"cap_net_bind_service=ep","/app/server-link":"cap_net_bind_service=ep","/tools/bad":"invalid:010203","/tools/gone":"cap_chown=ep [rootid=100000]","/tools/raw":"cap_net_raw=p"}`,
		"", // no capability files: no annotation
	}
	for i, w := range wantAnn {
		got, ok := m.Layers[i].Annotations[imagemeta.AnnotationCapabilities]
		if got != w || ok != (w != "") || (w == "" && m.Layers[i].Annotations != nil) {
			t.Errorf("layer %d annotation %q (present %v), want %q", i, got, ok, w)
		}
	}
	// The reading side parses what the writer wrote.
	if c, err := imagemeta.Parse(cfg.Config.Labels[imagemeta.LabelCapabilities]); err != nil || len(c) != 4 {
		t.Errorf("Parse: %v %v", c, err)
	}
}

// An image without capability files says so: "{}", which a verifier can
// hold the layers to.
func TestCapabilitiesMetadataEmpty(t *testing.T) {
	p := tartest.WriteFile(t, "l.tar", tartest.Tar(t, tartest.File("bin/sh", "sh", nil)))
	res := build(t, Options{Layers: []string{p}, Entrypoint: []string{"/bin/sh"}})
	cfg, _ := res.Image.ConfigFile()
	m, _ := res.Image.Manifest()
	if got := cfg.Config.Labels[imagemeta.LabelCapabilities]; got != "{}" || m.Layers[0].Annotations != nil {
		t.Errorf("label %q, annotations %v", got, m.Layers[0].Annotations)
	}
}

func TestCapabilitiesLabelCannotBeSet(t *testing.T) {
	p := tartest.WriteFile(t, "l.tar", capsLayer(t))
	_, err := Build(Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}, Labels: map[string]string{imagemeta.LabelCapabilities: "{}"}})
	if !errors.Is(err, ErrReservedLabel) || !strings.Contains(err.Error(), "label io.capslayer.capabilities: the label is written by capslayer image") {
		t.Errorf("got %v", err)
	}
}

func mustEncode(t *testing.T, text string) []byte {
	t.Helper()
	fc, err := caps.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return fc.EncodeV2()
}

func mustEncodeV3(t *testing.T, text string, rootID uint32) []byte {
	t.Helper()
	fc, err := caps.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return fc.EncodeV3(rootID)
}

// The model keeps only entries whose base name can be the entrypoint: one
// that a symlink sends to another base name (python3 -> python3.11, written
// before the symlink, in a lower layer) needs, and gets, a second read.
func TestEntrypointThroughRenamingSymlink(t *testing.T) {
	lower := tartest.WriteFile(t, "lower.tar", tartest.Tar(t,
		tartest.Dir("usr/"), tartest.Dir("usr/bin/"),
		tartest.File("usr/bin/python3.11", "py", nil),
		tartest.Entry{Name: "usr/bin/data", Type: tar.TypeReg, Mode: 0o644, Body: "d"},
		tartest.Dir("opt/"), tartest.Dir("opt/srv/"),
	))
	upper := tartest.WriteFile(t, "upper.tar", tartest.Tar(t,
		tartest.Symlink("usr/bin/python3", "python3.11"),
		tartest.Symlink("usr/bin/notes", "data"),
		tartest.Symlink("usr/bin/dangling", "nowhere"),
		tartest.Symlink("app", "opt/srv"),
		tartest.Symlink("opt/srv/run", "../../usr/bin/python3"),
	))
	for _, tc := range []struct {
		argv0, want string
	}{
		{"python3", "/usr/bin/python3.11"},
		{"/usr/bin/python3", "/usr/bin/python3.11"},
		{"/app/run", "/usr/bin/python3.11"},
		{"notes", "error: /usr/bin/notes is not executable (mode 0644)"},
		{"/usr/bin/dangling", "error: /usr/bin/dangling exists in no layer of the image"},
	} {
		res, err := Build(Options{Layers: []string{lower, upper}, Entrypoint: []string{tc.argv0}, Created: epoch})
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = res.Executable
		}
		if got != tc.want && !strings.HasSuffix(got, strings.TrimPrefix(tc.want, "error: ")) {
			t.Errorf("%s: got %q, want %q", tc.argv0, got, tc.want)
		}
		if strings.HasPrefix(tc.want, "error") != (err != nil) {
			t.Errorf("%s: error %v, want %q", tc.argv0, err, tc.want)
		}
	}
}

func TestWriteLayoutRefusesToReplace(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := checkReplaceable(dir)
	if !errors.Is(err, ErrOutputNotReplaceable) || strings.Contains(err.Error(), "--") {
		t.Fatalf("checkReplaceable(dir with notes.txt) = %v, want ErrOutputNotReplaceable in words without flags", err)
	}
}

// TestErrorKinds checks that every kind of Error has its text and that a
// wrapped kind is found by errors.Is and errors.As.
func TestErrorKinds(t *testing.T) {
	for k := ErrNoBaseImage; k <= ErrOutputNotReplaceable; k++ {
		if strings.HasPrefix(k.Error(), "image error ") || k.Error() == "" {
			t.Errorf("kind %d has no text: %q", int(k), k.Error())
		}
	}
	if got := Error(0).Error(); got != "image error 0" {
		t.Errorf("Error(0) = %q", got)
	}
	err := fmt.Errorf("base x: %w", ErrBaseAmbiguous)
	var kind Error
	if !errors.Is(err, ErrBaseAmbiguous) || !errors.As(err, &kind) || kind != ErrBaseAmbiguous {
		t.Errorf("%v: errors.Is/As do not find ErrBaseAmbiguous", err)
	}
}
