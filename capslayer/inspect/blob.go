// This file holds the bounded primitives every reader uses: digest
// validation, size-limited reads and the opener of layout files.

package inspect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/filekind"
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// checkDigest rejects digests that are not sha256 or could name a path
// outside blobs/.
func checkDigest(h v1.Hash) error {
	if !digestRE.MatchString(h.String()) {
		return fmt.Errorf("unsupported or malformed digest %q (only sha256 is supported)", h.String())
	}
	return nil
}

// readLimited reads all of r, failing past max bytes.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrLimit, what, max)
	}
	return b, nil
}

// ErrNotRegular is wrapped by the errors returned when a file that must be a
// regular file (an input, index.json, a blob) is a FIFO, a device, a socket
// or a directory: it is refused without being opened for reading, which
// could hang (a FIFO) or never end (/dev/zero).
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens the regular file at p for reading (following
// symlinks), refusing anything else before opening it. what names the file
// in errors.
func OpenRegular(p, what string) (_ *os.File, err error) {
	defer errprefix.Add(&err, "inspect")
	f, _, err := openRegular(diskFS(p), ".", what)
	if err != nil {
		return nil, err
	}
	return f.(*os.File), nil
}

// OpenRegularFS is OpenRegular for the file name of fsys (the in-memory
// inputs of the fuzz targets and of image.Options.FS).
func OpenRegularFS(fsys fs.FS, name, what string) (_ fs.File, err error) {
	defer errprefix.Add(&err, "inspect")
	f, _, err := openRegular(fsys, name, what)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// regularFile is a regular file open for reading: *os.File, or the files of
// fstest.MapFS and embed.FS. The archive readers seek over its members.
type regularFile interface {
	fs.File
	io.Seeker
	io.ReaderAt
}

// diskFS is the host's file system as the readers see it: the file or
// directory at its root (opened as "."), and below it by slash-separated
// names (filepath.Join: symlinks are followed, see fsOpener). Unlike
// os.DirFS it opens with O_NONBLOCK, and openRegular checks that the file
// it opened is the one it checked.
type diskFS string

func (d diskFS) path(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// Open opens name with O_NONBLOCK: if it is swapped for a FIFO after the
// Stat of openRegular, opening it must not wait for a writer.
func (d diskFS) Open(name string) (fs.File, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// Stat implements fs.StatFS, following symlinks.
func (d diskFS) Stat(name string) (fs.FileInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.Stat(p)
}

// openRegular opens the regular file name of fsys, refusing anything else
// before opening it, and checks it again once open. The readers open every
// file through it, on disk (diskFS) as in memory (the fuzz targets'
// fstest.MapFS).
func openRegular(fsys fs.FS, name, what string) (regularFile, fs.FileInfo, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRegular(fi, what); err != nil {
		return nil, nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi2, err := f.Stat()
	if _, disk := fsys.(diskFS); err == nil && disk && !os.SameFile(fi, fi2) {
		// Only the host's files have an identity to compare.
		err = fmt.Errorf("%s changed while it was opened", what)
	}
	if err == nil {
		err = checkRegular(fi2, what)
	}
	rf, ok := f.(regularFile)
	if err == nil && !ok {
		err = fmt.Errorf("%s: the file system's files cannot seek (%T)", what, f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return rf, fi2, nil
}

func checkRegular(fi os.FileInfo, what string) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s is %s, %w: refusing to read it", what, filekind.Of(fi.Mode()), ErrNotRegular)
}

// opener opens a file of a layout by its slash-separated relative name.
// size is the size its descriptor gives, or -1 (index.json): the file must
// have exactly that size, checked before reading and while reading.
type opener func(name string, size int64) (io.ReadCloser, error)

// fsOpener opens the files of the layout directory root of fsys. On disk
// (diskFS), a symlinked file is followed wherever it points: Bazel's
// sandboxes and runfiles and rules_oci's tree artifacts make layout files
// symlinks that resolve outside the layout, so refusing them would refuse
// every layout a Bazel rule gets. The target must still be a regular file
// of exactly the descriptor's size (checked before a byte is read),
// nothing past that size is read, and its digest must match: a symlink can
// only make capslayer read a file whose content the layout's author already
// knew byte for byte.
func fsOpener(fsys fs.FS, root string) opener {
	return func(name string, size int64) (io.ReadCloser, error) {
		f, fi, err := openRegular(fsys, path.Join(root, name), name)
		if err != nil {
			return nil, err
		}
		if err := checkSize(name, fi.Size(), size); err != nil {
			f.Close()
			return nil, err
		}
		return readCloser{exactly(f, fi.Size(), name), f}, nil
	}
}

// checkSize compares the size of a file (have) with its descriptor's
// (want, -1 for none: then at most maxJSONSize).
func checkSize(what string, have, want int64) error {
	if want < 0 {
		if have > maxJSONSize {
			return fmt.Errorf("%w: %s is larger than %d bytes", ErrLimit, what, maxJSONSize)
		}
		return nil
	}
	if have != want {
		return fmt.Errorf("%s is %d bytes but its descriptor says %d: the layout is corrupt or was tampered with", what, have, want)
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// exactly returns a reader of exactly n bytes of r: reading fails if r ends
// sooner or holds more, so a blob that grows or shrinks while it is read
// is never taken for its descriptor's.
func exactly(r io.Reader, n int64, what string) io.Reader {
	return &exactReader{r: r, left: n, size: n, what: what}
}

type exactReader struct {
	r          io.Reader
	left, size int64
	what       string
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		var b [1]byte
		if n, _ := io.ReadFull(e.r, b[:]); n > 0 {
			return 0, fmt.Errorf("%s holds more than the %d bytes its descriptor says", e.what, e.size)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%s ends after %d bytes but its descriptor says %d", e.what, e.size-e.left, e.size)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (a *archive) opener() opener {
	return func(name string, size int64) (io.ReadCloser, error) {
		rc, have, err := a.open(name)
		if err != nil {
			return nil, err
		}
		if err := checkSize(name, have, size); err != nil {
			rc.Close()
			return nil, err
		}
		return rc, nil
	}
}
