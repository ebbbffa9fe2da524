// Package openfile is the one opener of capslayer's file inputs: a layer
// tar, a policy, a CA file, every file of a layout or archive. It refuses
// anything but a regular file before opening it for reading, because
// opening a named pipe blocks until a writer comes (forever, in CI) and
// reading a device may never end (/dev/zero) or have side effects. The
// file is opened with O_NONBLOCK and checked again once open, so a file
// swapped for a FIFO between the two checks is refused too.
package openfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/capslayer/rules_capslayer/capslayer/internal/filekind"
)

// ErrNotRegular is wrapped by every refusal of a file that is not a
// regular file (a FIFO, a device, a socket, a directory).
var ErrNotRegular = errors.New("not a regular file")

// File is a regular file open for reading: an *os.File, or a file of
// fstest.MapFS or embed.FS. Archive readers seek over its members.
type File interface {
	fs.File
	io.Seeker
	io.ReaderAt
}

// Regular opens the regular file at path (following symlinks) for
// reading. what names the file in errors ("--policy", "layer x.tar").
func Regular(path, what string) (*os.File, fs.FileInfo, error) {
	f, fi, err := RegularFS(Disk(path), ".", what)
	if err != nil {
		return nil, nil, err
	}
	return f.(*os.File), fi, nil
}

// ReadRegular reads the whole regular file at path, failing past max
// bytes; the error then names what and the bound.
func ReadRegular(path, what string, max int64) ([]byte, error) {
	f, fi, err := Regular(path, what)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d bytes allowed", what, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s grew past the %d bytes allowed while it was read", what, max)
	}
	return b, nil
}

// Check refuses a path that exists and is not a regular file, without
// opening it; a path that does not exist passes (opening it later says
// so). Flag parsers call it to refuse a FIFO before any work starts.
func Check(path, what string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return CheckInfo(fi, what)
}

// CheckInfo refuses fi unless it describes a regular file, naming what it
// is.
func CheckInfo(fi fs.FileInfo, what string) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("%s is %s, %w: refusing to read it", what, filekind.Of(fi.Mode()), ErrNotRegular)
}

// RegularFS opens the regular file name of fsys, refusing anything else
// before opening it, and checks it again once open. On disk (Disk) it also
// checks that the file opened is the one it checked.
func RegularFS(fsys fs.FS, name, what string) (File, fs.FileInfo, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckInfo(fi, what); err != nil {
		return nil, nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi2, err := f.Stat()
	if _, disk := fsys.(Disk); err == nil && disk && !os.SameFile(fi, fi2) {
		// Only the host's files have an identity to compare.
		err = fmt.Errorf("%s changed while it was opened", what)
	}
	if err == nil {
		err = CheckInfo(fi2, what)
	}
	rf, ok := f.(File)
	if err == nil && !ok {
		err = fmt.Errorf("%s: the file system's files cannot seek (%T)", what, f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return rf, fi2, nil
}

// Disk is the host's file system as the readers see it: the file or
// directory at its root (opened as "."), and below it by slash-separated
// names (symlinks are followed). Unlike os.DirFS it opens with
// O_NONBLOCK (see Open).
type Disk string

func (d Disk) path(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// Open opens name for reading with O_NONBLOCK: if it is swapped for a FIFO
// after the Stat of RegularFS, opening it must not wait for a writer.
func (d Disk) Open(name string) (fs.File, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// Stat implements fs.StatFS, following symlinks.
func (d Disk) Stat(name string) (fs.FileInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.Stat(p)
}
