package inspect

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression names, as reported in Stream.Compression.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
)

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

// Sniff returns the compression of the stream that starts with head
// (CompressionNone, CompressionGzip or CompressionZstd), or an error naming a
// compression that layers may not use.
func Sniff(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return CompressionGzip, nil
	case bytes.HasPrefix(head, magicZstd):
		return CompressionZstd, nil
	case bytes.HasPrefix(head, magicBzip2):
		return "", fmt.Errorf("compressed with bzip2, which OCI layers cannot use: decompress it or recompress it with gzip or zstd")
	case bytes.HasPrefix(head, magicXz):
		return "", fmt.Errorf("compressed with xz, which OCI layers cannot use: decompress it or recompress it with gzip or zstd")
	case bytes.HasPrefix(head, magicLz4):
		return "", fmt.Errorf("compressed with lz4, which OCI layers cannot use: decompress it or recompress it with gzip or zstd")
	}
	return CompressionNone, nil
}

// Decompress sniffs the compression of r and returns a reader of its
// decompressed bytes and the compression name. Closing the reader releases
// the decoder; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, string, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, "", err
	}
	c, err := Sniff(head)
	if err != nil {
		return nil, "", err
	}
	switch c {
	case CompressionGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("reading gzip header: %w", err)
		}
		return zr, c, nil
	case CompressionZstd:
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
