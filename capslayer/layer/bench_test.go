package layer

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchSource writes a file of n pseudo-random (incompressible) bytes.
func benchSource(b *testing.B, n int64) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "src")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(f, r, n); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

const benchSize = 64 << 20

// settle removes the previous output and flushes dirty pages outside the
// timer, so that no iteration pays for the write-back of the one before (as
// tools/bench/layer.sh runs sync between tools).
func settle(b *testing.B, out string) {
	b.StopTimer()
	os.Remove(out)
	syncAll()
	b.StartTimer()
}

// BenchmarkWrite measures WriteFile on a 64 MiB file: reading it, writing
// the layer next to it and computing the digests. Compare with
// BenchmarkSerialCopyHash, the one-goroutine io.Copy + io.MultiWriter
// equivalent, and see tools/bench/layer.sh for cp, openssl and GNU tar.
func BenchmarkWrite(b *testing.B) {
	src := benchSource(b, benchSize)
	files := []File{{Path: "/app/big", Source: src, Caps: mustXattr(capServer)}}
	for _, c := range []Compression{None, Gzip, Zstd} {
		b.Run(string(c), func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "layer.tar")
			b.SetBytes(benchSize)
			for b.Loop() {
				settle(b, out)
				if _, err := WriteFile(out, files, WithCompression(c)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("discard", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			if _, err := Write(io.Discard, files); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSerialCopyHash is the baseline the pipeline in pipeline.go is
// measured against: read, hash and write one after the other.
func BenchmarkSerialCopyHash(b *testing.B) {
	src := benchSource(b, benchSize)
	out := filepath.Join(b.TempDir(), "out")
	b.SetBytes(benchSize)
	for b.Loop() {
		settle(b, out)
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		o, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(io.MultiWriter(o, h), in, make([]byte, chunkSize)); err != nil {
			b.Fatal(err)
		}
		in.Close()
		o.Close()
	}
}
