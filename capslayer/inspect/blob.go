// This file holds the bounded primitives every reader uses: digest
// validation, size-limited reads and the opener of layout files.

package inspect

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// maxJSONSize bounds index.json, manifests, configs and manifest.json.
// The distribution spec caps manifests at 4 MiB; configs with long
// histories can be larger.
const maxJSONSize = 16 << 20

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
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", tarfs.ErrLimit, what, max)
	}
	return b, nil
}

// ErrNotRegular is wrapped by the errors returned when a file that must be a
// regular file (an input, index.json, a blob) is a FIFO, a device, a socket
// or a directory: it is refused without being opened for reading, which
// could hang (a FIFO) or never end (/dev/zero).
var ErrNotRegular = openfile.ErrNotRegular

// regularFile is a regular file open for reading; the archive readers seek
// over its members.
type regularFile = openfile.File

// diskFS is the host's file system as the readers see it (openfile.Disk).
type diskFS = openfile.Disk

// openRegular opens the regular file name of fsys through the one opener
// of file inputs (package openfile), on disk as in memory (the fuzz
// targets' fstest.MapFS).
func openRegular(fsys fs.FS, name, what string) (regularFile, fs.FileInfo, error) {
	return openfile.RegularFS(fsys, name, what)
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
			return fmt.Errorf("%w: %s is larger than %d bytes", tarfs.ErrLimit, what, maxJSONSize)
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
