package compat

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/image"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
	"github.com/capslayer/rules_capslayer/internal/tartest"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// TestMain puts the sbin directories (setcap) on PATH.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// capsLayer is a layer as capslayer writes it: an uncompressed tar whose
// /app/server carries cap_net_bind_service=ep, next to a plain file.
func capsLayer(t *testing.T) (string, []byte) {
	b := tartest.Tar(t,
		tartest.Dir("app/"),
		tartest.File("app/server", "#!/bin/true\n", tartest.NetBindEP),
		tartest.File("app/config", "port=80\n", nil),
	)
	return tartest.WriteFile(t, "caps.tar", b), b
}

// wantXattr fails unless the uncompressed tar holds exactly the
// capability value on /app/server.
func wantXattr(t *testing.T, what string, tarBytes []byte) {
	t.Helper()
	got := tartest.PAXRecords(t, tarBytes)
	if v, ok := got["/app/server"]; !ok || !bytes.Equal(v, tartest.NetBindEP) {
		t.Errorf("%s: /app/server security.capability = %x (present %v), want %x", what, v, ok, tartest.NetBindEP)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readAll returns a function that reads a (ReadCloser, error) pair to
// the end, so that it can wrap calls like l.Uncompressed().
func readAll(t *testing.T) func(io.ReadCloser, error) []byte {
	return func(rc io.ReadCloser, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestCapslayerImageKeepsLayerBytes: (a) capslayer image stores the layer
// file as the blob, byte for byte, in the layout and in the docker-archive
// tarball.
func TestCapslayerImageKeepsLayerBytes(t *testing.T) {
	p, raw := capsLayer(t)
	res, err := image.Build(image.Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}, Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tag, _ := image.ParseTag("example.com/app:v1")
	if err := image.WriteLayout(filepath.Join(dir, "layout"), res.Image, &tag, &res.Platform); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteTarball(filepath.Join(dir, "img.tar"), res.Image, tag); err != nil {
		t.Fatal(err)
	}
	hexd := strings.TrimPrefix(tartest.Digest(raw), "sha256:")
	blob, err := os.ReadFile(filepath.Join(dir, "layout", "blobs", "sha256", hexd))
	if err != nil || !bytes.Equal(blob, raw) {
		t.Fatalf("layout blob is not the layer file (err %v)", err)
	}
	wantXattr(t, "layout blob", blob)
	// In the tarball, the layer is the member <hex>.tar.
	img, err := tarball.ImageFromPath(filepath.Join(dir, "img.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	u := readAll(t)(ls[0].Uncompressed())
	if !bytes.Equal(u, raw) {
		t.Fatal("tarball layer is not the layer file")
	}
	wantXattr(t, "tarball layer", u)
}

// TestGGCRAppendLayersLayoutAndTarball: (b) go-containerregistry's own
// mutate.AppendLayers + layout.Write / tarball.Write keep the record, with
// our layer as tarball.LayerFromFile sees it (it gzips an uncompressed tar,
// so the blob digest changes but the tar inside is the same bytes).
func TestGGCRAppendLayersLayoutAndTarball(t *testing.T) {
	p, raw := capsLayer(t)
	l, err := tarball.LayerFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, _ := l.Digest()
	diffID, _ := l.DiffID()
	if diffID.String() != tartest.Digest(raw) {
		t.Errorf("diff ID %s, want sha256 of the file %s", diffID, tartest.Digest(raw))
	}
	blob, err := os.ReadFile(filepath.Join(dir, "layout", "blobs", "sha256", d.Hex))
	if err != nil {
		t.Fatal(err)
	}
	if u := gunzip(t, blob); !bytes.Equal(u, raw) {
		t.Error("layout blob does not decompress to the layer file")
	} else {
		wantXattr(t, "ggcr layout blob", u)
	}
	tp := filepath.Join(dir, "img.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := tarball.WriteToFile(tp, tag, img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(tp, &tag)
	if err != nil {
		t.Fatal(err)
	}
	bls, _ := back.Layers()
	wantXattr(t, "ggcr tarball layer", readAll(t)(bls[0].Uncompressed()))
	rep, err := inspect.Path(tp)
	if err != nil {
		t.Fatal(err)
	}
	if fs := rep.Images[0].Files(); len(fs) != 1 || fs[0].Xattr.String() != "cap_net_bind_service=ep" {
		t.Errorf("inspect of the ggcr tarball: %+v", fs)
	}
}

// TestCraneAppendPathRecompresses: (e) `crane append -f caps.tar` runs
// tarball.LayerFromFile(path, WithMediaType(...)) (pkg/crane/append.go
// getLayer): the uncompressed layer is gzipped, so the pushed blob is not
// our file and its digest differs from sha256(file); the tar inside, and so
// the xattr, is unchanged.
func TestCraneAppendPathRecompresses(t *testing.T) {
	p, raw := capsLayer(t)
	l, err := tarball.LayerFromFile(p, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if m.Layers[0].Digest.String() == tartest.Digest(raw) {
		t.Fatal("crane's path kept the file as the blob; docs/composing.md says it recompresses")
	}
	blob := readAll(t)(l.Compressed())
	if !bytes.HasPrefix(blob, []byte{0x1f, 0x8b}) || m.Layers[0].MediaType != types.OCILayer {
		t.Fatalf("blob is not gzip (media type %s)", m.Layers[0].MediaType)
	}
	if !bytes.Equal(gunzip(t, blob), raw) {
		t.Fatal("the gzipped blob does not hold the same tar")
	}
	wantXattr(t, "crane append blob", gunzip(t, blob))
	// Our own path keeps the digest.
	res, err := image.Build(image.Options{Layers: []string{p}, Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	om, _ := res.Image.Manifest()
	if om.Layers[0].Digest.String() != tartest.Digest(raw) {
		t.Errorf("capslayer image changed the digest: %s", om.Layers[0].Digest)
	}
}

// TestMutateExtractKeepsXattr: (c) flattening with mutate.Extract (crane
// export, crane flatten) re-tars with archive/tar and keeps the PAX record.
func TestMutateExtractKeepsXattr(t *testing.T) {
	p, _ := capsLayer(t)
	base := tartest.Tar(t, tartest.File("etc/passwd", "root:x:0:0::/:/bin/sh\n", nil))
	res, err := image.Build(image.Options{Layers: []string{tartest.WriteFile(t, "base.tar", base), p}, Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	flat := readAll(t)(mutate.Extract(res.Image), nil)
	wantXattr(t, "mutate.Extract", flat)
	// And a layer made from the flattened stream (crane flatten) too.
	// LayerFromOpener, not LayerFromReader: that one buffers the bytes in a
	// temporary file it never removes.
	fl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(flat)), nil })
	if err != nil {
		t.Fatal(err)
	}
	wantXattr(t, "flattened layer", readAll(t)(fl.Uncompressed()))
}

// pkgTarScript re-writes the members of an input tar into a new archive
// the way rules_pkg's pkg_tar merges `deps` (pkg/private/tar/tar_writer.py,
// TarFileWriter.add_tar): tarfile.open(..., format=tarfile.GNU_FORMAT),
// each member of tarfile.open(dep, 'r:*') added with addfile after dropping
// its 'path' PAX header. The format is the script's second argument so that
// the test can show it is GNU_FORMAT that drops the record.
const pkgTarScript = `
import sys, tarfile
src, fmt, dst = sys.argv[1], sys.argv[2], sys.argv[3]
out = tarfile.open(name=dst, mode='w:', format=getattr(tarfile, fmt))
intar = tarfile.open(name=src, mode='r:*')
for info in intar:
    info.pax_headers.pop('path', None)
    out.addfile(info, intar.extractfile(info) if info.isfile() else None)
print(sorted(k for m in tarfile.open(src).getmembers() for k in m.pax_headers))
out.close()
`

// TestPkgTarDepsDropsXattr: (d) pkg_tar(deps = [caps_layer]) drops the
// record: Python's tarfile reads it into pax_headers, but writing in
// GNU_FORMAT (what rules_pkg uses) emits no PAX headers at all. The file
// itself survives, so the loss is silent. PAX_FORMAT would keep it.
func TestPkgTarDepsDropsXattr(t *testing.T) {
	harness.RequireTools(t, "python3", "tar")
	p, _ := capsLayer(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		format string
		keeps  bool
	}{{"GNU_FORMAT", false}, {"PAX_FORMAT", true}} {
		out := filepath.Join(dir, tc.format+".tar")
		b, err := exec.Command("python3", "-c", pkgTarScript, p, tc.format, out).CombinedOutput()
		if err != nil {
			t.Fatalf("python3: %v\n%s", err, b)
		}
		if !strings.Contains(string(b), "SCHILY.xattr.security.capability") {
			t.Fatalf("tarfile did not read the record from our layer: %s", b)
		}
		merged, _ := os.ReadFile(out)
		recs := tartest.PAXRecords(t, merged)
		_, has := recs["/app/server"]
		if has != tc.keeps {
			t.Errorf("%s: record present = %v, want %v", tc.format, has, tc.keeps)
		}
		if tc.keeps {
			wantXattr(t, tc.format, merged)
		}
		files, err := inspect.LayerReader(bytes.NewReader(merged))
		if err != nil {
			t.Fatal(err)
		}
		if (len(files) == 1) != tc.keeps {
			t.Errorf("%s: inspect finds %d capability files", tc.format, len(files))
		}
		// The server itself is still there, with its contents: the drop
		// is silent.
		if out, err := exec.Command("tar", "-xOf", out, "app/server").Output(); err != nil || string(out) != "#!/bin/true\n" {
			t.Errorf("%s: app/server content %q, %v", tc.format, out, err)
		}
	}
}

// TestGNUTarExtractKeepsXattr: what `ADD caps.tar /` and runtimes do,
// extraction with xattrs, done with GNU tar as root; getcap reads the
// capability from the disk.
func TestGNUTarExtractKeepsXattr(t *testing.T) {
	harness.RequireTools(t, "tar", "getcap")
	harness.RequireRoot(t) // writing security.capability needs CAP_SETFCAP
	p, _ := capsLayer(t)
	root := t.TempDir()
	if b, err := exec.Command("tar", "--xattrs", "--xattrs-include=security.capability", "-xpf", p, "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	out, _ := exec.Command("getcap", filepath.Join(root, "app", "server")).Output()
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "app/server cap_net_bind_service=ep") {
		t.Errorf("getcap after GNU tar --xattrs -x: %q", out)
	}
	// Without --xattrs GNU tar drops it.
	root2 := t.TempDir()
	exec.Command("tar", "-xpf", p, "-C", root2).Run()
	out, _ = exec.Command("getcap", filepath.Join(root2, "app", "server")).Output()
	if strings.Contains(string(out), "cap_") {
		t.Errorf("GNU tar without --xattrs kept the capability: %q", out)
	}
}

// TestBuildahADDAndCOPY: podman build (buildah) as root, FROM scratch:
// `ADD caps.tar /` extracts the layer with its xattrs, and `COPY` of a
// host file that setcap marked keeps them too. (Docker BuildKit's COPY is
// reported to drop them, moby/buildkit#2250; not testable here.)
func TestBuildahADDAndCOPY(t *testing.T) {
	harness.RequireTools(t, "podman", "setcap")
	harness.RequireRoot(t) // setcap and rootful podman
	_, raw := capsLayer(t)
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "caps.tar"), raw, 0o644)
	srv := filepath.Join(ctx, "server")
	os.WriteFile(srv, []byte("#!/bin/true\n"), 0o755)
	if b, err := exec.Command("setcap", "cap_net_bind_service=ep", srv).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v %s", err, b)
	}
	os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte("FROM scratch\nADD caps.tar /\nCOPY server /copied/server\n"), 0o644)
	suffix := make([]byte, 6)
	rand.Read(suffix)
	tag := "localhost/capslayer-compat-test:" + hex.EncodeToString(suffix)
	podman := func(args ...string) ([]byte, error) {
		cmd := exec.Command("podman", args...)
		timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
		defer timer.Stop()
		return cmd.CombinedOutput()
	}
	if b, err := podman("build", "--network=none", "-t", tag, ctx); err != nil {
		t.Fatalf("podman build: %v\n%s", err, b)
	}
	defer podman("rmi", "-f", tag)
	out := filepath.Join(t.TempDir(), "oci")
	if b, err := podman("save", "--format", "oci-dir", "-o", out, tag); err != nil {
		t.Fatalf("podman save: %v\n%s", err, b)
	}
	rep, err := inspect.Path(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Images[0].Files() {
		got = append(got, f.Path+" "+hex.EncodeToString(f.Raw))
	}
	want := "/app/server 0100000200040000000000000000000000000000|/copied/server 0100000200040000000000000000000000000000"
	if strings.Join(got, "|") != want {
		t.Errorf("buildah image files %q, want %q", got, want)
	}
}

// TestBsdtarArchiveMergeKeepsXattr: bsdtar's `@archive` operand (libarchive
// copies the entries of another archive into the one it writes, the way to
// merge a caps layer into a bigger tar without extracting it) keeps the
// capability in its default format, restricted pax, which writes it twice
// (SCHILY.xattr and LIBARCHIVE.xattr, base64) and which capslayer reads back.
// `--format gnutar` and `--format ustar` have no xattr records and drop it
// silently. tar.bzl 0.7.0 runs this bsdtar but cannot express the operand:
// its `args` get no location expansion and mtree has no archive keyword
// (docs/composing.md).
func TestBsdtarArchiveMergeKeepsXattr(t *testing.T) {
	harness.RequireTools(t, "bsdtar")
	p, _ := capsLayer(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "extra"), []byte("more\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	merge := func(format ...string) []byte {
		out := filepath.Join(dir, "merged.tar")
		args := append([]string{"-cf", out}, format...)
		args = append(args, "-C", dir, "extra", "@"+p)
		if b, err := exec.Command("bsdtar", args...).CombinedOutput(); err != nil {
			t.Fatalf("bsdtar %s: %v %s", strings.Join(args, " "), err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	merged := merge()
	wantXattr(t, "bsdtar -cf merged.tar extra @caps.tar", merged)
	mp := tartest.WriteFile(t, "merged-pax.tar", merged)
	rep, err := inspect.Path(mp)
	if err != nil {
		t.Fatalf("capslayer inspect of bsdtar's output: %v", err)
	}
	var got []string
	for _, f := range rep.Images[0].Files() {
		got = append(got, f.Path+" "+hex.EncodeToString(f.Raw))
	}
	if want := "/app/server " + hex.EncodeToString(tartest.NetBindEP); len(got) != 1 || got[0] != want {
		t.Errorf("capslayer inspect of the merged tar: %q, want [%q]", got, want)
	}
	for _, format := range []string{"gnutar", "ustar"} {
		recs := tartest.PAXRecords(t, merge("--format", format))
		if v, ok := recs["/app/server"]; ok {
			t.Errorf("bsdtar --format %s kept security.capability %x; docs/composing.md says it drops it", format, v)
		}
	}
}
