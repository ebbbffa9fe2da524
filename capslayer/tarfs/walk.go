package tarfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/readahead"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/digest"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// errPrefix starts the errors of this package's exported functions: the
// tar model is the lower half of capslayer's image reader, and a user sees
// one name for reading an image, whichever half found the problem.
const errPrefix = "inspect"

// Stream describes the bytes Walk read.
type Stream struct {
	// Compression is how the bytes read were compressed.
	Compression compression.Compression
	// Digest is "sha256:<hex>" of the bytes as read: the blob digest.
	Digest string
	// DiffID is "sha256:<hex>" of the decompressed tar.
	DiffID string
	// Size is the number of bytes read (the blob size).
	Size int64
	// Entries is the number of tar entries.
	Entries int
}

// MediaType returns the OCI layer media type for the stream's compression.
func (s Stream) MediaType() string {
	return string(compression.MediaType(s.Compression))
}

// WalkFunc is called by Walk for every entry of a layer, in archive order.
// name is the entry's absolute, clean path ("/app/server", "/" for the
// root); hdr is the raw header, whose PAXRecords hold the xattrs. Returning
// an error stops the walk with that error.
type WalkFunc func(name string, hdr *tar.Header) error

// Walk reads a layer tar (plain, gzip or zstd, sniffed from its first
// bytes), calls fn for each entry and reads the stream to its end so that the
// returned digests cover every byte. Entry names that escape the root, more
// entries than the limit, and more decompressed bytes than the limit are
// errors. An input that is not a tar archive is an error. An error of fn
// is returned as it is.
func Walk(r io.Reader, fn WalkFunc, opts ...Option) (_ Stream, err error) {
	var fnErr error
	defer func() {
		if err != fnErr {
			errprefix.Add(&err, errPrefix)
		}
	}()
	return walkData(r, func(name string, hdr *tar.Header, _ io.Reader) error {
		fnErr = fn(name, hdr)
		return fnErr
	}, opts...)
}

// DataWalkFunc is WalkFunc with the entry's data: fn may read data (to its
// end or not) before it returns; what it leaves is skipped. data is valid
// only during the call.
type DataWalkFunc func(name string, hdr *tar.Header, data io.Reader) error

// WalkData is Walk for callers that read the data of some entries as the
// layer streams past: the digests and limits still cover every byte.
func WalkData(r io.Reader, fn DataWalkFunc, opts ...Option) (_ Stream, err error) {
	var fnErr error
	defer func() {
		if err != fnErr {
			errprefix.Add(&err, errPrefix)
		}
	}()
	return walkData(r, func(name string, hdr *tar.Header, data io.Reader) error {
		fnErr = fn(name, hdr, data)
		return fnErr
	}, opts...)
}

// The stages of walk hand each other buffers of stageBufferSize bytes,
// stageBuffers of them ahead (4 MiB in all).
const (
	stageBuffers    = 4
	stageBufferSize = 512 << 10
)

func walkData(r io.Reader, fn DataWalkFunc, opts ...Option) (Stream, error) {
	o := NewLimits(opts)
	var st Stream
	rawDigest, tarDigest := digest.New(), digest.New()
	// Three stages, each on its own goroutine and so on up to three
	// cores: reading the blob with its digest (a registry's blob over the
	// network, with go-containerregistry's check of the digest), its
	// decompression, and the diff ID with the tar headers here. Inflating
	// gzip is most of the work; the stages keep the rest off its core.
	// rawDigest is written by the first stage until raw ends or stop
	// returns.
	raw, err := readahead.NewReaderSize(io.TeeReader(r, rawDigest), stageBuffers, stageBufferSize)
	if err != nil {
		return st, err
	}
	defer raw.Close()
	dr, comp, err := compression.NewReader(raw)
	if err != nil {
		return st, err
	}
	defer dr.Close()
	st.Compression = comp
	var decompressed io.Reader = dr
	stop := func() { raw.Close() }
	if comp != compression.None {
		ra, err := readahead.NewReaderSize(dr, stageBuffers, stageBufferSize)
		if err != nil {
			return st, err
		}
		// Before dr and raw, which its goroutine reads.
		defer ra.Close()
		decompressed = ra
		stop = func() { ra.Close(); raw.Close() }
	}
	lr := &limitReader{r: decompressed, n: o.MaxLayerSize, max: o.MaxLayerSize}
	tail := &tailBlock{}
	tarStream := io.TeeReader(lr, io.MultiWriter(tarDigest, tail))
	tr := tar.NewReader(tarStream)
	var last string
	end := tarEnd{known: true}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrLimit) {
				return st, err
			}
			if st.Entries == 0 {
				stop()
				if rawDigest.Size() == 0 {
					return st, errors.New("empty input: not a tar archive")
				}
				return st, fmt.Errorf("not a tar archive, or truncated (%s): %w", comp, err)
			}
			return st, fmt.Errorf("corrupt or truncated tar after entry %d (%q): %w", st.Entries, last, err)
		}
		end.entry(tarDigest.Size(), hdr)
		st.Entries++
		if st.Entries > o.MaxEntries {
			return st, fmt.Errorf("%w: more than %d entries in one layer", ErrLimit, o.MaxEntries)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return st, err
		}
		last = name
		if err := fn(name, hdr, tr); err != nil {
			return st, err
		}
	}
	if tarDigest.Size() == 0 {
		return st, errors.New("empty input: not a tar archive")
	}
	// archive/tar ends quietly when the input stops between entries, in
	// padding, or after one of the two zero blocks that end an archive;
	// every tar writer writes both, so a missing one means the archive was
	// cut short.
	if err := end.check(tarDigest.Size(), tail); err != nil {
		return st, fmt.Errorf("%w after entry %d (%q)", err, st.Entries, last)
	}
	// Read to the end: padding after the end-of-archive blocks is part of
	// the blob and its diff ID, and gzip checks its CRC only at the end.
	// That padding must be zeros: entries after the end-of-archive marker
	// (cat a.tar b.tar) are skipped by runtimes and Go but listed by GNU tar
	// -i, so an archive holding them could hide a file from one reader.
	if err := zerosOnly(tarStream, tarDigest.Size()); err != nil {
		return st, err
	}
	// Not raw's WriteTo, which returns io.EOF itself once raw has ended.
	if _, err := io.Copy(io.Discard, struct{ io.Reader }{raw}); err != nil {
		return st, err
	}
	st.Digest = rawDigest.Digest().String()
	st.DiffID = tarDigest.Digest().String()
	st.Size = rawDigest.Size()
	return st, nil
}

// CleanName turns a tar entry name into an absolute, clean path. Names with
// a ".." element are rejected: they are path-traversal attempts, which no
// layer tool writes. Leading "/" and "./" are accepted (ko writes "/ko-app/x").
func CleanName(name string) (_ string, err error) {
	defer errprefix.Add(&err, errPrefix)
	return cleanName(name)
}

func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("tar entry with an empty name")
	}
	if len(name) > maxNameLen {
		return "", fmt.Errorf("%w: tar entry name of %d bytes (Linux paths are at most %d)", ErrLimit, len(name), maxNameLen)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", fmt.Errorf("tar entry %q escapes the image root with \"..\": refusing a path-traversal archive", name)
		}
	}
	return path.Clean("/" + name), nil
}

// WhiteoutKind classifies an entry name by the OCI/AUFS whiteout convention.
type WhiteoutKind int

const (
	// NotWhiteout is an ordinary entry.
	NotWhiteout WhiteoutKind = iota
	// WhiteoutRemove (.wh.<name>) removes <name> of lower layers.
	WhiteoutRemove
	// WhiteoutOpaque (.wh..wh..opq) hides the contents of its directory in
	// lower layers.
	WhiteoutOpaque
	// WhiteoutMeta is another AUFS special (.wh..wh.plnk ...); it is not a
	// file and removes nothing.
	WhiteoutMeta
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Whiteout classifies the clean path p and returns the path that it
// removes (WhiteoutRemove) or whose contents it hides (WhiteoutOpaque).
func Whiteout(p string) (WhiteoutKind, string) {
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	switch {
	case base == whiteoutOpaque:
		return WhiteoutOpaque, dir
	case strings.HasPrefix(base, whiteoutMeta):
		return WhiteoutMeta, ""
	case strings.HasPrefix(base, whiteoutPrefix):
		target := base[len(whiteoutPrefix):]
		if target == "" || target == "." || target == ".." {
			return WhiteoutMeta, ""
		}
		return WhiteoutRemove, path.Join(dir, target)
	}
	return NotWhiteout, ""
}

// ArchiveEnd makes Walk's end-of-archive checks for a caller that reads a
// tar with archive/tar from a file it can seek in (a docker save tarball,
// an oci-archive): the two zero blocks that end an archive are there, and
// only zeros follow them.
type ArchiveEnd struct{ end tarEnd }

// NewArchiveEnd returns the checks for an archive of which no entry is read.
func NewArchiveEnd() *ArchiveEnd { return &ArchiveEnd{tarEnd{known: true}} }

// Entry records the entry whose header archive/tar just returned, when off
// bytes of the file are read (so its data starts at off).
func (a *ArchiveEnd) Entry(off int64, hdr *tar.Header) { a.end.entry(off, hdr) }

// Check is called once archive/tar has returned io.EOF, off bytes of f
// read; it reads f to its end.
func (a *ArchiveEnd) Check(f interface {
	io.Reader
	io.ReaderAt
}, off int64) error {
	tail := &tailBlock{}
	if off >= 512 {
		if _, err := f.ReadAt(tail.b[:], off-512); err != nil {
			return err
		}
		tail.n = 512
	}
	if err := a.end.check(off, tail); err != nil {
		return err
	}
	return zerosOnly(f, off)
}

// tarEnd checks that a tar archive ends with its two zero blocks.
type tarEnd struct {
	dataEnd int64 // where the last entry's data (and padding) ends
	known   bool  // dataEnd is exact (the last entry is not a sparse file)
}

// entry records the entry whose header archive/tar just returned, when
// the reader has consumed off bytes (so its data starts at off).
func (e *tarEnd) entry(off int64, hdr *tar.Header) {
	size := hdr.Size
	switch hdr.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		size = 0 // archive/tar reads no data for these, whatever the size field says
	}
	e.dataEnd = off + (size+511)&^511
	// A sparse file stores less data than its size; where it ends is not
	// known here.
	_, pax := hdr.PAXRecords["GNU.sparse.major"]
	_, pax0 := hdr.PAXRecords["GNU.sparse.numblocks"]
	e.known = hdr.Typeflag != tar.TypeGNUSparse && !pax && !pax0
}

// check is called once archive/tar has returned io.EOF after consuming
// off bytes, the last of which went through tail.
func (e *tarEnd) check(off int64, tail *tailBlock) error {
	if e.known {
		switch off - e.dataEnd {
		case 1024:
			return nil
		case 512:
			return errors.New("truncated tar: the last of the two zero blocks that end an archive is missing")
		case 0:
			return errors.New("truncated tar: the end-of-archive marker (two zero blocks) is missing")
		}
	}
	if !tail.zero() {
		return errors.New("truncated tar: the end-of-archive marker is missing")
	}
	return nil
}

// zerosOnly reads r to its end and fails on the first byte that is not
// zero; off is the offset of r's first byte, for the message.
func zerosOnly(r io.Reader, off int64) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for i, c := range buf[:n] {
			if c != 0 {
				return fmt.Errorf("data after the end-of-archive marker, at byte %d: a second archive appended to the first (cat a.tar b.tar)? GNU tar -i would list entries that other readers skip; refusing the archive", off+int64(i))
			}
		}
		off += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading past the end of the tar: %w", err)
		}
	}
}

// tailBlock remembers the last 512-byte block written to it.
type tailBlock struct {
	b [512]byte
	n int64
}

func (t *tailBlock) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= len(t.b) {
		copy(t.b[:], p[len(p)-len(t.b):])
	} else {
		copy(t.b[:], t.b[len(p):])
		copy(t.b[len(t.b)-len(p):], p)
	}
	t.n += int64(n)
	return n, nil
}

// zero reports whether a whole block was written and the last one was zeros.
func (t *tailBlock) zero() bool {
	if t.n < int64(len(t.b)) {
		return false
	}
	for _, c := range t.b {
		if c != 0 {
			return false
		}
	}
	return true
}

// limitReader is io.LimitReader that fails instead of ending the stream
// early, so that a truncated read is never mistaken for a complete layer.
type limitReader struct {
	r   io.Reader
	n   int64 // bytes left
	max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var b [1]byte
		n, err := l.r.Read(b[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: layer decompresses to more than %d bytes (a decompression bomb?)", ErrLimit, l.max)
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
