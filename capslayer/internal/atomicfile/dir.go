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
	old    string // the replaced target, moved aside by clear
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
	return commitAll([]Output{d})
}

func (d *Dir) finish() error      { return nil }
func (d *Dir) targetPath() string { return d.target }

// clear renames an existing target aside, to be removed once everything
// is in place (d.old). The caller is inside committing.
func (d *Dir) clear() error {
	if d.old != "" {
		return nil
	}
	_, err := os.Lstat(d.target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	old := d.Path + ".old"
	live.temps[old] = true // removed by a signal from here on
	if err := os.Rename(d.target, old); err != nil {
		delete(live.temps, old)
		return fmt.Errorf("replace %s: %w", d.target, err)
	}
	d.old = old
	return nil
}

// install renames the temporary directory onto the target, after moving an
// existing one aside; it returns the old one's name, to be removed once
// everything is in place. The caller is inside committing.
func (d *Dir) install() (string, error) {
	if err := d.clear(); err != nil {
		return "", err
	}
	if err := os.Rename(d.Path, d.target); err != nil {
		if d.old != "" {
			os.Rename(d.old, d.target)
			delete(live.temps, d.old)
		}
		return "", fmt.Errorf("write %s: %w", d.target, err)
	}
	untrackLocked(d.Path)
	d.done = true
	return d.old, nil
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
