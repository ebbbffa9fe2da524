package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// baseImage is an OCI image of the layer tars, bottom first, gzip-compressed
// as registries serve them.
func baseImage(t testing.TB, layers ...[]byte) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		l := l
		tl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil }, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, tl)
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// runCopyUp writes the copy-up layer of the sets and returns it.
func runCopyUp(t testing.TB, img v1.Image, opts []Option, sets ...string) ([]byte, *Result, error) {
	t.Helper()
	var scs []SetCap
	for _, s := range sets {
		p, text, _ := strings.Cut(s, "=")
		fc, err := caps.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		scs = append(scs, SetCap{Path: p, Caps: caps.Xattr{Revision: 2, Caps: fc}})
	}
	var buf bytes.Buffer
	res, err := CopyUp(&buf, img, scs, opts...)
	// CopyUpFile copies a single file in the pass that locates it: the
	// same layer, the same warnings, the same errors.
	out := filepath.Join(t.TempDir(), "copyup.tar")
	res2, err2 := CopyUpFile(out, img, scs, opts...)
	if fmt.Sprint(err) != fmt.Sprint(err2) {
		t.Errorf("CopyUp: %v\nCopyUpFile: %v", err, err2)
	}
	if err == nil && err2 == nil {
		b, rerr := os.ReadFile(out)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if !bytes.Equal(b, buf.Bytes()) || fmt.Sprint(res.Warnings) != fmt.Sprint(res2.Warnings) || res.Digest != res2.Digest {
			t.Errorf("CopyUpFile wrote %s with warnings %q, CopyUp %s with %q", res2.Digest, res2.Warnings, res.Digest, res.Warnings)
		}
	}
	return buf.Bytes(), res, err
}

// countingImage counts the reads of each layer blob.
type countingImage struct {
	v1.Image
	reads map[v1.Hash]int
}

func (c *countingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := c.Image.LayerByDigest(h)
	return &countingLayer{Layer: l, img: c, h: h}, err
}

type countingLayer struct {
	v1.Layer
	img *countingImage
	h   v1.Hash
}

func (c *countingLayer) Compressed() (io.ReadCloser, error) {
	c.img.reads[c.h]++
	return c.Layer.Compressed()
}

func TestCopyUpFileReadsEachLayerOnce(t *testing.T) {
	base := baseImage(t,
		tartest.Tar(t, tdir("usr/"), tdir("usr/sbin/"), tfile("usr/sbin/nginx", "nginx", nil), tdir("etc/")),
		tartest.Tar(t, tdir("etc/"), tdir("etc/nginx/"), tfile("etc/nginx/nginx.conf", "conf", nil), tfile("etc/init.d/nginx", "#!/bin/sh", nil)),
		tartest.Tar(t, tdir("var/"), tfile("var/x", "x", nil)),
	)
	img := &countingImage{Image: base, reads: map[v1.Hash]int{}}
	fc, _ := caps.Parse("cap_net_bind_service=ep")
	out := filepath.Join(t.TempDir(), "copyup.tar")
	if _, err := CopyUpFile(out, img, []SetCap{{Path: "/usr/sbin/nginx", Caps: caps.Xattr{Revision: 2, Caps: fc}}}); err != nil {
		t.Fatal(err)
	}
	ls, _ := base.Layers()
	for i, l := range ls {
		d, _ := l.Digest()
		if img.reads[d] != 1 {
			t.Errorf("layer %d read %d times, want once", i, img.reads[d])
		}
	}
	b, _ := os.ReadFile(out)
	checkListing(t, b, "5 usr/ 0755 0:0", "5 usr/sbin/ 0755 0:0", `0 usr/sbin/nginx 0755 0:0 caps=cap_net_bind_service=ep "nginx"`)
}

// listing prints every entry of a tar: type, name, mode, owner, size,
// capability, content.
func listing(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		line := fmt.Sprintf("%c %s %04o %d:%d", hdr.Typeflag, hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid)
		if v, ok := hdr.PAXRecords[caps.PAXRecordKey]; ok {
			x, err := caps.Decode([]byte(v))
			if err != nil {
				t.Fatal(err)
			}
			line += " caps=" + x.String()
		}
		if hdr.Typeflag == tar.TypeReg {
			line += fmt.Sprintf(" %q", body)
		}
		out = append(out, line)
	}
}

func checkListing(t *testing.T, b []byte, want ...string) {
	t.Helper()
	got := listing(t, b)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layer holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

var (
	tfile = tartest.File
	tdir  = tartest.Dir
	tlink = tartest.Symlink
)

func owned(e tartest.Entry, mode int64, uid int) tartest.Entry {
	e.Mode, e.UID = mode, uid
	return e
}

func TestCopyUpThroughSymlinkedDirectory(t *testing.T) {
	// A merged-/usr base: /bin is a symlink to usr/bin.
	img := baseImage(t,
		tartest.Tar(t, tlink("bin", "usr/bin"), owned(tdir("usr/"), 0o755, 0), owned(tdir("usr/bin/"), 0o750, 7),
			tfile("usr/bin/busybox", "\x7fELF busybox", nil), tfile("usr/bin/other", "o", nil)),
		tartest.Tar(t, tdir("etc/"), tfile("etc/busybox", "a config, not the binary", nil)),
	)
	b, res, err := runCopyUp(t, img, nil, "/bin/busybox=cap_net_bind_service=ep")
	if err != nil {
		t.Fatal(err)
	}
	// The file goes to its resolved path; /bin stays a symlink.
	checkListing(t, b,
		"5 usr/ 0755 0:0",
		"5 usr/bin/ 0750 7:0",
		`0 usr/bin/busybox 0755 0:0 caps=cap_net_bind_service=ep "\x7fELF busybox"`,
	)
	if got := res.Files[0].Path; got != "/usr/bin/busybox" {
		t.Errorf("descriptor path %s, want /usr/bin/busybox", got)
	}
}

func TestCopyUpUpperLayerWins(t *testing.T) {
	img := baseImage(t,
		tartest.Tar(t, tdir("app/"), tfile("app/server", "v1", nil)),
		tartest.Tar(t, owned(tdir("app/"), 0o700, 5), owned(tfile("app/server", "v2", nil), 0o750, 5)),
	)
	b, _, err := runCopyUp(t, img, nil, "/app/server=cap_net_bind_service=p")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b,
		"5 app/ 0700 5:0",
		`0 app/server 0750 5:0 caps=cap_net_bind_service=p "v2"`,
	)
	loc, err := inspect.Locate(img, []string{"/app/server"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(loc.Searched) != "[1]" {
		t.Errorf("searched layers %v, want [1]: the top layer decides the file", loc.Searched)
	}
}

func TestCopyUpUpperEntryThroughLowerSymlink(t *testing.T) {
	// The upper layer writes lib/x without its parent: a runtime puts it
	// at /usr/lib/x through the base's symlink, over the base's file.
	img := baseImage(t,
		tartest.Tar(t, tlink("lib", "usr/lib"), tdir("usr/"), tdir("usr/lib/"), tfile("usr/lib/x", "v1", nil)),
		tartest.Tar(t, tfile("lib/x", "v2", nil)),
	)
	b, _, err := runCopyUp(t, img, nil, "/usr/lib/x=cap_net_raw=p")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b,
		"5 usr/ 0755 0:0",
		"5 usr/lib/ 0755 0:0",
		`0 usr/lib/x 0755 0:0 caps=cap_net_raw=p "v2"`,
	)
}

func TestCopyUpWhiteouts(t *testing.T) {
	img := baseImage(t,
		tartest.Tar(t, tdir("usr/"), tdir("usr/bin/"), tfile("usr/bin/gone", "g", nil),
			tdir("opt/"), tdir("opt/app/"), tfile("opt/app/old", "o", nil)),
		tartest.Tar(t, tdir("usr/"), tdir("usr/bin/"), tfile("usr/bin/.wh.gone", "", nil),
			tdir("opt/"), tdir("opt/app/"), tfile("opt/app/.wh..wh..opq", "", nil), tfile("opt/app/new", "n", nil)),
	)
	for p, want := range map[string]string{
		"/usr/bin/gone": "/usr/bin/gone is removed by the whiteout /usr/bin/.wh.gone in layer 1",
		"/opt/app/old":  "/opt/app/old is hidden (its directory is opaque) by the whiteout /opt/app/.wh..wh..opq in layer 1",
	} {
		_, _, err := runCopyUp(t, img, nil, p+"=cap_net_raw=p")
		if !errors.Is(err, tarfs.ErrLocate) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an ErrLocate saying %q", p, err, want)
		}
	}
	b, _, err := runCopyUp(t, img, nil, "/opt/app/new=cap_net_raw=p")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b, "5 opt/ 0755 0:0", "5 opt/app/ 0755 0:0", `0 opt/app/new 0755 0:0 caps=cap_net_raw=p "n"`)
}

func TestCopyUpMissingNamesLayersSearched(t *testing.T) {
	img := baseImage(t,
		tartest.Tar(t, tdir("usr/"), tfile("usr/a", "a", nil)),
		tartest.Tar(t, tdir("usr/"), tfile("usr/b", "b", nil)),
		tartest.Tar(t, tdir("etc/")),
	)
	_, _, err := runCopyUp(t, img, nil, "/usr/nginx=cap_net_raw=p")
	want := "/usr/nginx: is not in the image's final filesystem (searched layers 2, 1, 0, top first)"
	if !errors.Is(err, tarfs.ErrLocate) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestCopyUpRefusesNonFiles(t *testing.T) {
	img := baseImage(t, tartest.Tar(t, tdir("usr/"), tdir("usr/bin/"), tfile("usr/bin/real", "r", nil),
		tlink("usr/bin/alias", "real"), tfile("etc", "a file", nil)))
	for p, want := range map[string]string{
		"/usr/bin/alias": `is a symlink to "real" in the image (layer 0): name the file it points to, /usr/bin/real`,
		"/usr/bin":       "is a directory in the image",
		"/etc/passwd":    "/etc is a regular file in layer 0, not a directory",
	} {
		_, _, err := runCopyUp(t, img, nil, p+"=cap_net_raw=p")
		if !errors.Is(err, tarfs.ErrLocate) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", p, err, want)
		}
	}
}

func TestCopyUpHardLinks(t *testing.T) {
	img := baseImage(t, tartest.Tar(t, tdir("bin/"), owned(tfile("bin/busybox", "BB", nil), 0o755, 0),
		tartest.Entry{Name: "bin/sh", Type: tar.TypeLink, Link: "bin/busybox"},
		tartest.Entry{Name: "bin/ls", Type: tar.TypeLink, Link: "bin/busybox"}))
	b, res, err := runCopyUp(t, img, nil, "/bin/busybox=cap_net_bind_service=ep")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b, "5 bin/ 0755 0:0", `0 bin/busybox 0755 0:0 caps=cap_net_bind_service=ep "BB"`)
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "as /bin/ls, /bin/sh") || !strings.Contains(w, "keep the original file") {
		t.Errorf("warnings %q do not name the other links", res.Warnings)
	}
	// A hard link named itself is copied with its target's bytes.
	b, res, err = runCopyUp(t, img, nil, "/bin/sh=cap_net_bind_service=ep")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b, "5 bin/ 0755 0:0", `0 bin/sh 0755 0:0 caps=cap_net_bind_service=ep "BB"`)
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "as /bin/busybox, /bin/ls") {
		t.Errorf("warnings %q do not name the other links", res.Warnings)
	}
}

func TestCopyUpUnsafeModeAndExistingCaps(t *testing.T) {
	img := baseImage(t, tartest.Tar(t, tdir("bin/"),
		owned(tfile("bin/su", "su", nil), 0o4755, 0),
		tfile("bin/ping", "ping", tartest.NetBindEP),
		tfile("bin/script", "#!/bin/sh\n", nil)))
	_, _, err := runCopyUp(t, img, nil, "/bin/su=cap_net_raw=p")
	if !errors.Is(err, ErrUnsafeMode) || !strings.Contains(err.Error(), "mode 4755, which sets setuid") {
		t.Errorf("setuid: got %v, want ErrUnsafeMode", err)
	}
	b, _, err := runCopyUp(t, img, []Option{WithAllowUnsafeMode(true)}, "/bin/su=cap_net_raw=p")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b, "5 bin/ 0755 0:0", `0 bin/su 4755 0:0 caps=cap_net_raw=p "su"`)

	_, _, err = runCopyUp(t, img, nil, "/bin/ping=cap_net_raw=p")
	if !errors.Is(err, ErrHasCapability) || !strings.Contains(err.Error(), "cap_net_bind_service=ep") {
		t.Errorf("existing caps: got %v, want ErrHasCapability naming them", err)
	}
	b, res, err := runCopyUp(t, img, []Option{WithReplaceCapabilities(true)}, "/bin/ping=cap_net_raw=p")
	if err != nil {
		t.Fatal(err)
	}
	checkListing(t, b, "5 bin/ 0755 0:0", `0 bin/ping 0755 0:0 caps=cap_net_raw=p "ping"`)
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "had the capabilities cap_net_bind_service=ep") {
		t.Errorf("warnings %q, want the replaced value", res.Warnings)
	}

	_, _, err = runCopyUp(t, img, nil, "/bin/script=cap_net_raw=p")
	if !errors.Is(err, ErrScript) {
		t.Errorf("script: got %v, want ErrScript", err)
	}
}

func TestCopyUpDeterministic(t *testing.T) {
	img := baseImage(t,
		tartest.Tar(t, tdir("usr/"), tdir("usr/sbin/"), tfile("usr/sbin/nginx", strings.Repeat("x", 100000), nil), tdir("bin/"), tfile("bin/ping", "p", nil)),
		tartest.Tar(t, tdir("etc/"), tfile("etc/nginx", "conf", nil)),
	)
	sets := []string{"/usr/sbin/nginx=cap_net_bind_service=ep", "/bin/ping=cap_net_raw=p"}
	for _, c := range []Compression{None, Gzip, Zstd} {
		a, ra, err := runCopyUp(t, img, []Option{WithCompression(c)}, sets...)
		if err != nil {
			t.Fatal(err)
		}
		b, rb, err := runCopyUp(t, img, []Option{WithCompression(c)}, sets[1], sets[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) || ra.Digest != rb.Digest || ra.DiffID != rb.DiffID {
			t.Errorf("%s: two runs differ: %s and %s", c, ra.Digest, rb.Digest)
		}
		if c == None {
			checkListing(t, a,
				"5 bin/ 0755 0:0",
				`0 bin/ping 0755 0:0 caps=cap_net_raw=p "p"`,
				"5 usr/ 0755 0:0",
				"5 usr/sbin/ 0755 0:0",
				fmt.Sprintf(`0 usr/sbin/nginx 0755 0:0 caps=cap_net_bind_service=ep %q`, strings.Repeat("x", 100000)),
			)
		}
	}
}

func TestCopyUpTamperedLayer(t *testing.T) {
	good := tartest.Tar(t, tdir("bin/"), tfile("bin/x", "good", nil))
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), static.NewLayer(good, types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	// Serve other bytes, of the same size, under the same descriptor.
	l, _ := img.Layers()
	d, _ := l[0].Digest()
	bad := tartest.Tar(t, tdir("bin/"), tfile("bin/x", "evil", nil))
	img2 := &swapLayer{Image: img, digest: d, layer: static.NewLayer(bad, types.OCIUncompressedLayer)}
	_, _, err = runCopyUp(t, img2, nil, "/bin/x=cap_net_raw=p")
	if err == nil || !strings.Contains(err.Error(), "corrupt or was tampered with") {
		t.Errorf("got %v, want a digest mismatch", err)
	}
}

// swapLayer serves layer for digest.
type swapLayer struct {
	v1.Image
	digest v1.Hash
	layer  v1.Layer
}

func (s *swapLayer) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h == s.digest {
		return s.layer, nil
	}
	return s.Image.LayerByDigest(h)
}
