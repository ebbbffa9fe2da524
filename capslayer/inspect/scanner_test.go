package inspect

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// TestScannerImage: scanImage replays a v1.Image's layers into a
// tarfs.Scanner with Scan's checks, so that Lookup answers for its final
// filesystem (a watched
// file under a symlinked directory, a file a later layer deleted), and a
// tampered layer is refused as Scan refuses it.
func TestScannerImage(t *testing.T) {
	netRaw := mustHex("0100000200200000000000000000000000000000")
	base := tartest.Tar(t, tartest.Dir("usr"), tartest.Dir("usr/bin"), tartest.Symlink("bin", "usr/bin"),
		tartest.File("usr/bin/ping", "ping", netRaw), tartest.File("usr/bin/sh", "sh", nil))
	top := tartest.Tar(t, tartest.File("usr/bin/.wh.ping", "", nil))
	img := testImage(t, "linux/amd64", base, top)

	sc := tarfs.NewScanner(func(p string, hdr *tar.Header) bool { return strings.HasPrefix(p, "/usr/bin/") })
	ls, err := scanImage(sc, img, tarfs.NewLimits(nil))
	if err != nil {
		t.Fatal(err)
	}
	n, resolved, found, err := sc.Lookup("/bin/sh", true)
	if err != nil || !found || resolved != "/usr/bin/sh" || n.Type != tar.TypeReg || n.Layer != 0 {
		t.Errorf("Lookup(/bin/sh) = %+v, %q, %v, %v", n, resolved, found, err)
	}
	if _, _, found, _ := sc.Lookup("/bin/ping", true); found {
		t.Error("/bin/ping, whited out by layer 1, was found")
	}
	if len(ls) != 2 || len(ls[0].Files) != 1 || ls[0].Files[0].ShadowedBy != 1 || ls[0].Digest == "" {
		t.Errorf("layers %+v", ls)
	}

	// The same checks as Scan: a blob that is not what the manifest says.
	m, _ := img.Manifest()
	tampered := &swappedLayer{Image: img, want: m.Layers[1].Digest.String(), data: base}
	if _, err := scanImage(tarfs.NewScanner(nil), tampered, tarfs.NewLimits(nil)); err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Errorf("tampered layer: %v", err)
	} else if errors.Is(err, tarfs.ErrLimit) {
		t.Errorf("tampered layer reported as a limit: %v", err)
	}
}

// swappedLayer serves data for the layer whose digest is want.
type swappedLayer struct {
	v1.Image
	want string
	data []byte
}

func (s *swappedLayer) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h.String() == s.want {
		return static.NewLayer(s.data, types.OCIUncompressedLayer), nil
	}
	return s.Image.LayerByDigest(h)
}
