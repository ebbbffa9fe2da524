package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fileLayer is a v1.Layer whose blob is a layer file, byte for byte.
type fileLayer struct {
	fsys   fs.FS // nil: the host's
	path   string
	stream tarfs.Stream
	digest v1.Hash
	diffID v1.Hash
	// paths summarises the non-directory entries of the layer.
	paths pathSummary
}

// pathSummary keeps the first few non-directory paths of a layer and their
// count: what history's created_by shows, in memory that does not grow with
// the layer.
type pathSummary struct {
	first []string
	n     int
}

const summaryPaths = 3

func (s *pathSummary) add(p string) {
	if len(s.first) < summaryPaths {
		s.first = append(s.first, p)
	}
	s.n++
}

// String names the layer by its paths for history's created_by, which must
// not depend on where the layer file was on the build host.
func (s pathSummary) String() string {
	if s.n == 0 {
		return "(no files)"
	}
	out := strings.Join(s.first, " ")
	if s.n > len(s.first) {
		out += fmt.Sprintf(" (+%d more)", s.n-len(s.first))
	}
	return out
}

var _ v1.Layer = (*fileLayer)(nil)

// openFile opens the file path of fsys, or the host's when fsys is nil.
// The file must be a regular file, checked before it is opened: a FIFO
// passed as --layer would otherwise block the open forever.
func openFile(fsys fs.FS, path string) (fs.File, error) {
	name := path
	if fsys == nil {
		fsys, name = openfile.Disk(path), "."
	}
	f, _, err := openfile.RegularFS(fsys, name, path)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", path, err)
	}
	return f, nil
}

// openLayer reads the layer file at path (of fsys, nil for the host's) once
// (plain, gzip or zstd tar) to compute its digests and check that it is a
// tar, calling fn, when not nil, for each entry.
func openLayer(fsys fs.FS, path string, fn tarfs.WalkFunc) (*fileLayer, error) {
	f, err := openFile(fsys, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l := &fileLayer{fsys: fsys, path: path}
	st, err := tarfs.Walk(f, func(name string, hdr *tar.Header) error {
		if hdr.Typeflag != tar.TypeDir {
			if k, _ := tarfs.Whiteout(name); k == tarfs.NotWhiteout {
				l.paths.add(name)
			}
		}
		if fn != nil {
			return fn(name, hdr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", path, err)
	}
	l.stream = st
	if l.digest, err = v1.NewHash(st.Digest); err != nil {
		return nil, err
	}
	if l.diffID, err = v1.NewHash(st.DiffID); err != nil {
		return nil, err
	}
	return l, nil
}

// Digest implements v1.Layer: sha256 of the file.
func (l *fileLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID implements v1.Layer: sha256 of the decompressed tar.
func (l *fileLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size implements v1.Layer.
func (l *fileLayer) Size() (int64, error) { return l.stream.Size, nil }

// MediaType implements v1.Layer: the OCI layer type of the file's actual
// compression.
func (l *fileLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.stream.MediaType()), nil
}

// Compressed implements v1.Layer: the file's bytes, checked against the
// digest computed by openLayer so that a file changed in between fails the
// write instead of producing a layout with a wrong digest.
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	f, err := openFile(l.fsys, l.path)
	if err != nil {
		return nil, err
	}
	return &verifyingReader{f: f, h: sha256.New(), want: l.digest.Hex, path: l.path}, nil
}

// Uncompressed implements v1.Layer.
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := openFile(l.fsys, l.path)
	if err != nil {
		return nil, err
	}
	rc, _, err := compression.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{rc, closers{rc, f}}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type verifyingReader struct {
	f    fs.File
	h    hash.Hash
	want string
	path string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("layer %s changed while the image was written (sha256:%s, was sha256:%s)", v.path, got, v.want)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.f.Close() }
