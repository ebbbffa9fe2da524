// Package digest computes the OCI digest (sha256) and size of a byte stream
// as it is written: the one counting writer and digest helper of the writer
// and the readers.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Writer hashes and counts everything written to it. Its zero value is not
// usable; call New.
type Writer struct {
	h hash.Hash
	n int64
}

// New returns a Writer that computes a sha256 digest.
func New() *Writer { return &Writer{h: sha256.New()} }

// Write hashes and counts p; it never fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.h.Write(p) // hash.Hash.Write never fails
	w.n += int64(len(p))
	return len(p), nil
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Digest returns the digest of the bytes written so far.
func (w *Writer) Digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// Bytes returns the digest of b.
func Bytes(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}
