// Package compression is the one model of layer compression used by the
// writer (package layer), the readers (packages inspect and image) and the
// CLI: the compression of a layer blob, its OCI media type, its file name
// extension, how to recognise it from the first bytes of a blob, and the
// pinned encoder settings that make compressed layers reproducible.
//
// The type is go-containerregistry's compression.Compression, so values pass
// unchanged to go-containerregistry; media types are its types.MediaType.
package compression

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is the compression of a layer blob: None, Gzip or Zstd.
type Compression = ggcr.Compression

// The compressions an OCI layer may use.
const (
	None = ggcr.None
	Gzip = ggcr.GZip
	Zstd = ggcr.ZStd
)

// Names lists the compression names in the order they are documented.
var Names = []string{string(None), string(Gzip), string(Zstd)}

// Parse parses "none", "gzip" or "zstd".
func Parse(s string) (Compression, error) {
	switch c := Compression(s); c {
	case None, Gzip, Zstd:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q: use none, gzip or zstd", s)
}

// ForName infers the compression from a layer file name the way rules_oci's
// oci_image accepts them: .tar is None, .tar.gz and .tgz are Gzip, .tar.zst
// and .tzst are Zstd. It reports false for any other name.
func ForName(name string) (Compression, bool) {
	switch {
	case strings.HasSuffix(name, ".tar"):
		return None, true
	case strings.HasSuffix(name, ".tar.gz"), strings.HasSuffix(name, ".tgz"):
		return Gzip, true
	case strings.HasSuffix(name, ".tar.zst"), strings.HasSuffix(name, ".tzst"):
		return Zstd, true
	}
	return "", false
}

// Extension returns the file name extension rules_capslayer gives a layer
// with compression c: ".tar", ".tar.gz" or ".tar.zst".
func Extension(c Compression) string {
	switch c {
	case Gzip:
		return ".tar.gz"
	case Zstd:
		return ".tar.zst"
	}
	return ".tar"
}

// MediaType returns the OCI layer media type of a blob with compression c.
func MediaType(c Compression) types.MediaType {
	switch c {
	case Gzip:
		return types.OCILayer
	case Zstd:
		return types.OCILayerZStd
	}
	return types.OCIUncompressedLayer
}

// Pinned encoder settings. Changing any of them, or the version of
// github.com/klauspost/compress (see go.mod), changes the digest of
// compressed layers; the diff_id does not depend on them.
const (
	// GzipLevel is the deflate level of gzip layers: klauspost's level 7,
	// the closest to gzip -6's size (+2.0 %, against +3.7 % at level 6)
	// that takes less than half its time (0.35 × gzip -6's CPU time;
	// level 9 is +0.6-1.3 % at 1.8-2.5 ×). No level of klauspost/compress
	// nor the standard library's level 6 (+1.3-1.8 %) reaches gzip -6's
	// size. BenchmarkGzipVsGzip6 measures them; docs/benchmarks.md has the
	// numbers.
	GzipLevel = 7
	// ZstdLevel is the level of zstd layers (zstd's default, level 3).
	ZstdLevel = zstd.SpeedDefault
)

// NewWriter returns a writer that compresses to w with c's pinned settings;
// for None it returns w itself with a Close that does nothing. Close
// flushes the stream; it does not close w. The output depends only on the
// bytes written: gzip's header holds no name, no mtime and OS 255 (1f 8b 08
// 00 00000000 00 ff), and zstd uses one encoder goroutine whatever the
// host's GOMAXPROCS.
func NewWriter(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopCloser{w}, nil
	case Gzip:
		zw, err := gzip.NewWriterLevel(w, GzipLevel)
		if err != nil {
			return nil, err
		}
		// klauspost/compress writes uint32(ModTime.Unix()) even for the
		// zero time.Time, which is not 0; the epoch is.
		zw.ModTime = time.Unix(0, 0)
		return zw, nil
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(ZstdLevel), zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("unknown compression %q: use none, gzip or zstd", c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// zstdMaxWindow caps the window a zstd frame may ask for (the zstd CLI's
// default limit, --long=27), so a hostile header cannot make the decoder
// allocate gigabytes.
const zstdMaxWindow = 1 << 27

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicLz4   = []byte{0x04, 0x22, 0x4d, 0x18}
)

// SniffLen is how many leading bytes Sniff needs to tell every format apart.
const SniffLen = 6

// Sniff returns the compression of the stream that starts with head, or an
// error naming a compression that layers may not use.
func Sniff(head []byte) (Compression, error) {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return Gzip, nil
	case bytes.HasPrefix(head, magicZstd):
		return Zstd, nil
	case bytes.HasPrefix(head, magicBzip2):
		return "", fmt.Errorf("compressed with bzip2, which OCI layers cannot use: decompress it or recompress it with gzip or zstd")
	case bytes.HasPrefix(head, magicXz):
		return "", fmt.Errorf("compressed with xz, which OCI layers cannot use: decompress it or recompress it with gzip or zstd")
	case bytes.HasPrefix(head, magicLz4):
		return "", fmt.Errorf("compressed with lz4, which OCI layers cannot use: decompress it or recompress it with gzip or zstd")
	}
	return None, nil
}

// NewReader sniffs the compression of r and returns a reader of its
// decompressed bytes and the compression. The zstd decoder is single
// threaded, low-memory and refuses windows over 128 MiB. Closing the reader
// releases the decoder; it does not close r.
func NewReader(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(SniffLen)
	if err != nil && err != io.EOF {
		return nil, "", err
	}
	c, err := Sniff(head)
	if err != nil {
		return nil, "", err
	}
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("reading gzip header: %w", err)
		}
		return zr, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, "", fmt.Errorf("reading zstd header: %w", err)
		}
		return zstdCloser{zr}, c, nil
	}
	return io.NopCloser(br), c, nil
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error {
	z.Decoder.Close()
	return nil
}
