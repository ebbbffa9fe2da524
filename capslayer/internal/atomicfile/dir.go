package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// Dir is an output directory being written at Path, a temporary directory
// beside its target. Commit or Discard it.
type Dir struct {
	Path   string
	target string
	locks  []*lock
	done   bool
}

// CreateDir locks target, removes leftovers of killed writers of it and
// creates its temporary directory (mode DirPerm, whatever the umask).
// Deciding whether an existing target may be replaced is the caller's job.
func CreateDir(target string) (_ *Dir, err error) {
	defer errprefix.Add(&err, "atomicfile")
	target = filepath.Clean(target)
	locks, err := acquire(target)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(target), tempPrefix(target)+"*")
	if err == nil {
		track(tmp)
		err = os.Chmod(tmp, DirPerm) // MkdirTemp makes 0700
	}
	d := &Dir{Path: tmp, target: target, locks: locks}
	if err != nil {
		d.Discard()
		return nil, fmt.Errorf("create %s: %w", target, err)
	}
	return d, nil
}

// Commit replaces target by the temporary directory: an existing target is
// first renamed aside (to Path+".old") and removed after the rename, so
// that target is never a mix of the two. Killed between the renames, the
// target is absent until the next writer of it cleans up.
func (d *Dir) Commit() (err error) {
	defer errprefix.Add(&err, "atomicfile")
	defer d.Discard()
	old := d.Path + ".old"
	_, err = os.Lstat(d.target)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err = committing(func() error {
		if exists {
			live.temps[old] = true // removed by a signal from here on
			if err := os.Rename(d.target, old); err != nil {
				return fmt.Errorf("replace %s: %w", d.target, err)
			}
		}
		if err := os.Rename(d.Path, d.target); err != nil {
			if exists {
				os.Rename(old, d.target)
			}
			return fmt.Errorf("write %s: %w", d.target, err)
		}
		untrackLocked(d.Path)
		d.done = true
		return nil
	})
	if err != nil || !exists {
		return err
	}
	defer untrack(old)
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("remove the replaced %s: %w", d.target, err)
	}
	return nil
}

// Discard removes the temporary directory unless committed, and releases
// the lock.
func (d *Dir) Discard() {
	if !d.done && d.Path != "" {
		os.RemoveAll(d.Path)
		untrack(d.Path)
		d.done = true
	}
	release(d.locks)
	d.locks = nil
}
