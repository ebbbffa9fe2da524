package kernel

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

// fixture holds the binaries under test and a world-traversable work
// directory.
type fixture struct {
	capslayer, server string
	dir               string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	harness.RequireRoot(t)
	harness.RequireTools(t, "tar", "getfattr", "setpriv", "nsenter", "unshare", "ip")
	f := &fixture{
		capslayer: harness.Capslayer.Path(t),
		server:    harness.Server.Path(t),
		dir:       harness.WorldDir(t),
	}
	harness.RequireStatic(t, f.server)
	return f
}

// layer runs `capslayer layer` for the server binary at /app/server with
// the capability text and returns the layer's path.
func (f *fixture) layer(t *testing.T, name, capsText string, extra ...string) string {
	t.Helper()
	out := filepath.Join(f.dir, name+".tar")
	args := []string{f.capslayer, "layer", "--binary", f.server, "--path", "/app/server", "--caps", capsText, "--output", out}
	harness.MustRun(t, append(args, extra...)...)
	return out
}

// handLayer writes a layer holding the server at /app/server with the given
// raw security.capability value, for values capslayer rightly refuses to
// write (a v3 attribute with rootid 0). Everything else matches what
// capslayer writes: PAX format, root-owned, mode 0755, mtime 0.
func (f *fixture) handLayer(t *testing.T, name string, xattr []byte) string {
	t.Helper()
	bin, err := os.ReadFile(f.server)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755, Format: tar.FormatPAX},
		{Typeflag: tar.TypeReg, Name: "app/server", Mode: 0o755, Size: int64(len(bin)), Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": string(xattr)}},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(f.dir, name+".tar")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// v3Xattr encodes a revision 3 vfs_ns_cap_data: magic_etc, permitted and
// inheritable low words, high words, rootid (all little-endian u32).
// Hand-written because it is the input of a kernel behaviour test: it must
// not depend on the encoder under test.
func v3Xattr(permitted uint64, effective bool, rootid uint32) []byte {
	magic := uint32(0x03000000)
	if effective {
		magic |= 1
	}
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:], magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(permitted))
	binary.LittleEndian.PutUint32(b[12:], uint32(permitted>>32))
	binary.LittleEndian.PutUint32(b[20:], rootid)
	return b
}

// An extractor turns a layer into a root file system on disk, as a
// container runtime would, and returns the root's path.
type extractor struct {
	name    string
	extract func(t *testing.T, f *fixture, layer string) string
}

// extractors are the two ways the tests unpack layers: GNU tar (what a
// `docker load`-free pipeline or a Dockerfile ADD does with xattrs on) and
// umoci (an OCI image unpacker, as runc users do).
var extractors = []extractor{
	{"gnutar", extractGNUTar},
	{"umoci", extractUmoci},
}

// extractGNUTar extracts with the flags GNU tar needs to restore
// security.capability: --xattrs and an include pattern (by default GNU tar
// restores only user.* attributes), -p for modes.
func extractGNUTar(t *testing.T, f *fixture, layer string) string {
	t.Helper()
	root, err := os.MkdirTemp(f.dir, "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	harness.MustRun(t, "tar", "--xattrs", "--xattrs-include=security.capability", "-xpf", layer, "-C", root)
	return root
}

// extractUmoci assembles an OCI image layout from the layer with
// `capslayer image` and unpacks it with `umoci unpack`, returning the
// bundle's rootfs.
func extractUmoci(t *testing.T, f *fixture, layer string) string {
	t.Helper()
	harness.RequireTools(t, "umoci")
	dir, err := os.MkdirTemp(f.dir, "umoci-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "layout")
	harness.MustRun(t, f.capslayer, "image", "--layer", layer, "--entrypoint", "/app/server", "--user", "1000",
		"--output", layout, "--tag", "e2e:latest")
	bundle := filepath.Join(dir, "bundle")
	harness.MustRun(t, "umoci", "unpack", "--image", layout+":latest", bundle)
	// umoci makes the bundle directory 0700; uid 1000 must traverse it.
	if err := os.Chmod(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bundle, "rootfs")
}
