package layer

import (
	"bytes"
	"io"
	"os/exec"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// decompress returns the tar inside a layer.
func decompress(t *testing.T, c Compression, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case None:
		return b
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress %s: %v", c, err)
	}
	return out
}

// TestCompressedRoundTrip decompresses with the system gzip and zstd tools
// and expects the uncompressed layer, whose digest is the diff_id.
func TestCompressedRoundTrip(t *testing.T) {
	plain, plainRes := writeBytes(t, testFiles())
	if plainRes.Digest != plainRes.DiffID {
		t.Errorf("uncompressed: Digest %s != DiffID %s", plainRes.Digest, plainRes.DiffID)
	}
	for _, tc := range []struct {
		c         Compression
		tool      []string
		mediaType string
	}{
		{Gzip, []string{"gzip", "-dc"}, "application/vnd.oci.image.layer.v1.tar+gzip"},
		{Zstd, []string{"zstd", "-dcq"}, "application/vnd.oci.image.layer.v1.tar+zstd"},
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			b, res := writeBytes(t, testFiles(), WithCompression(tc.c))
			if res.DiffID != plainRes.DiffID {
				t.Errorf("DiffID = %s, want %s (digest of the uncompressed layer)", res.DiffID, plainRes.DiffID)
			}
			if string(res.MediaType) != tc.mediaType {
				t.Errorf("MediaType = %s, want %s", res.MediaType, tc.mediaType)
			}
			if _, err := exec.LookPath(tc.tool[0]); err != nil {
				testenv.SkipOrFail(t, "%s not installed", tc.tool[0])
			}
			cmd := exec.Command(tc.tool[0], tc.tool[1:]...)
			cmd.Stdin = bytes.NewReader(b)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v", tc.tool, err)
			}
			if !bytes.Equal(out, plain) {
				t.Errorf("%v output differs from the uncompressed layer:\n%s", tc.tool, byteDiff(out, plain))
			}
		})
	}
}

// TestGzipHeader pins the 10-byte gzip header: no file name, mtime 0, no
// extra flags, OS 255 (unknown), so nothing of the host shows.
func TestGzipHeader(t *testing.T) {
	b, _ := writeBytes(t, testFiles(), WithCompression(Gzip))
	want := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	if !bytes.Equal(b[:10], want) {
		t.Errorf("gzip header = % x, want % x", b[:10], want)
	}
}

// TestZstdFrameHeader checks the zstd magic and that no dictionary id or
// other host-dependent field is present: the frame header descriptor byte
// is fixed by the pinned level.
func TestZstdFrameHeader(t *testing.T) {
	b, _ := writeBytes(t, testFiles(), WithCompression(Zstd))
	if !bytes.Equal(b[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Fatalf("zstd magic = % x", b[:4])
	}
	if fhd := b[4]; fhd&0x03 != 0 {
		t.Errorf("frame header descriptor %#02x has a dictionary id", fhd)
	}
}
