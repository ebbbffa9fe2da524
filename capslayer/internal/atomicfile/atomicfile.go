package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// Perm is the permission of every output file, set explicitly so that the
// umask does not decide it. Output directories get DirPerm.
const (
	Perm    fs.FileMode = 0o644
	DirPerm fs.FileMode = 0o755
)

// ErrOutput is wrapped by every error of Check.
var ErrOutput = errors.New("output cannot be written")

// Check fails early, before any work, for a target that cannot be written:
// an existing directory (unless dir is true), or a path whose parent
// directory does not exist. what names the target in the error, such as
// "--sarif" or "output"; example is a good file name to suggest.
func Check(what, path, example string) (err error) {
	defer errprefix.Add(&err, "atomicfile")
	if path == "" {
		return fmt.Errorf("%w: %s path is empty", ErrOutput, what)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%w: %s %q is a directory: give a file name, e.g. %q", ErrOutput, what, path, filepath.Join(path, example))
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s %q: directory %q does not exist: create it first", ErrOutput, what, path, dir)
	case err != nil:
		return fmt.Errorf("%w: %s %q: %v", ErrOutput, what, path, err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s %q: %q is not a directory", ErrOutput, what, path, dir)
	}
	return nil
}

// tempPrefix is the name of a target's temporary files, before the digits.
func tempPrefix(target string) string { return "." + filepath.Base(target) + ".tmp-" }

// lockName is the lock file of target.
func lockName(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".lock")
}

// isTemp reports whether name (a base name) is a temporary file of the
// target whose tempPrefix is prefix: prefix, then digits, then nothing or
// ".old". The strict form keeps the temporaries of "a.tmp-1" apart from
// those of "a".
func isTemp(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	rest = strings.TrimSuffix(rest, ".old")
	if rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStale removes the temporary files and directories of target left
// by writers that died. The caller holds target's lock.
func removeStale(target string) error {
	dir := filepath.Dir(target)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	prefix := tempPrefix(target)
	for _, e := range ents {
		if isTemp(e.Name(), prefix) {
			p := filepath.Join(dir, e.Name())
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("remove %s, left by an earlier run that was killed: %w", p, err)
			}
		}
	}
	return nil
}

// live holds the temporary paths being written and the lock files held, for
// the signal handler.
var live struct {
	sync.Mutex
	temps map[string]bool
	locks map[string]*lock
	dying bool // a signal arrived: commit nothing more
}

// testHook is called between the steps of a commit; tests kill the process
// there.
var testHook = func(step string) {}

// errDying refuses a commit after a signal removed the temporary files.
var errDying = errors.New("interrupted by a signal")

// committing runs fn, which renames temporaries onto targets, unless a
// signal arrived; the signal handler waits until fn is done. fn untracks
// what it renamed with untrackLocked.
func committing(fn func() error) error {
	live.Lock()
	defer live.Unlock()
	if live.dying {
		return errDying
	}
	return fn()
}

func track(tmp string) {
	live.Lock()
	defer live.Unlock()
	if live.temps == nil {
		live.temps = map[string]bool{}
	}
	live.temps[tmp] = true
}

func untrack(tmp string) {
	live.Lock()
	defer live.Unlock()
	untrackLocked(tmp)
}

func untrackLocked(tmp string) { delete(live.temps, tmp) }

// acquire locks targets in a fixed order (so that two writers of the same
// pair cannot deadlock) and removes their stale temporaries.
func acquire(targets ...string) ([]*lock, error) {
	sorted := slices.Clone(targets)
	slices.Sort(sorted)
	var locks []*lock
	for _, t := range sorted {
		l, err := lockFile(lockName(t))
		if err != nil {
			release(locks)
			return nil, fmt.Errorf("lock %s: %w", t, err)
		}
		locks = append(locks, l)
		if err := removeStale(t); err != nil {
			release(locks)
			return nil, err
		}
	}
	return locks, nil
}

func release(locks []*lock) {
	for i := len(locks) - 1; i >= 0; i-- {
		locks[i].unlock()
	}
}

// File is an output file being written. Write to it through File (an
// *os.File), then Commit or Discard; Discard after Commit does nothing, so
// `defer f.Discard()` is the usual pattern.
type File struct {
	*os.File
	target string
	locks  []*lock
	done   bool
}

// Create locks target, removes leftovers of killed writers of it and
// creates its temporary file.
func Create(target string) (_ *File, err error) {
	defer errprefix.Add(&err, "atomicfile")
	locks, err := acquire(target)
	if err != nil {
		return nil, err
	}
	f, err := createTemp(target)
	if err != nil {
		release(locks)
		return nil, err
	}
	f.locks = locks
	return f, nil
}

func createTemp(target string) (*File, error) {
	tf, err := os.CreateTemp(filepath.Dir(target), tempPrefix(target)+"*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", target, err)
	}
	track(tf.Name())
	return &File{File: tf, target: target}, nil
}

// finish sets the permission bits and closes the temporary file.
func (f *File) finish() error {
	if err := f.File.Chmod(Perm); err != nil {
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	if err := f.File.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	return nil
}

// rename renames the temporary file onto the target; the caller is inside
// committing.
func (f *File) rename() error {
	if err := os.Rename(f.File.Name(), f.target); err != nil {
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	untrackLocked(f.File.Name())
	f.done = true
	return nil
}

func (f *File) targetPath() string       { return f.target }
func (f *File) install() (string, error) { return "", f.rename() }

// clear removes the old target; the caller is inside committing.
func (f *File) clear() error {
	if err := os.Remove(f.target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", f.target, err)
	}
	return nil
}

// Commit closes the file and renames it onto its target, then releases the
// lock.
func (f *File) Commit() (err error) {
	defer errprefix.Add(&err, "atomicfile")
	defer f.Discard()
	if err := f.finish(); err != nil {
		return err
	}
	return committing(f.rename)
}

// Discard removes the temporary file unless it was committed, and releases
// the lock.
func (f *File) Discard() {
	if !f.done {
		f.File.Close()
		os.Remove(f.File.Name())
		untrack(f.File.Name())
		f.done = true
	}
	release(f.locks)
	f.locks = nil
}

// WriteFile writes data to target atomically.
func WriteFile(target string, data []byte) (err error) {
	defer errprefix.Add(&err, "atomicfile")
	f, err := Create(target)
	if err != nil {
		return err
	}
	defer f.Discard()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return f.Commit()
}

// Pair is two outputs that must match, such as a layer (First) and its
// descriptor (Second). The invariant: at every instant, the Second target
// is either absent or written by the same Commit as the First target.
type Pair struct {
	First, Second *File
	locks         []*lock
}

// CreatePair locks both targets, removes leftovers of killed writers of
// them and creates their temporary files.
func CreatePair(first, second string) (_ *Pair, err error) {
	defer errprefix.Add(&err, "atomicfile")
	if filepath.Clean(first) == filepath.Clean(second) {
		return nil, fmt.Errorf("%w: %q is given for two outputs", ErrOutput, first)
	}
	locks, err := acquire(first, second)
	if err != nil {
		return nil, err
	}
	p := &Pair{locks: locks}
	if p.First, err = createTemp(first); err == nil {
		p.Second, err = createTemp(second)
	}
	if err != nil {
		p.Discard()
		return nil, err
	}
	return p, nil
}

// Commit closes both files, removes the old Second target, renames the
// First, then the Second, and releases the locks. If it fails, the Second
// target is absent.
func (p *Pair) Commit() (err error) {
	defer errprefix.Add(&err, "atomicfile")
	defer p.Discard()
	return commitAll([]Output{p.First, p.Second})
}

// Discard removes both temporary files unless committed, and releases the
// locks.
func (p *Pair) Discard() {
	for _, f := range []*File{p.First, p.Second} {
		if f != nil {
			f.Discard()
		}
	}
	release(p.locks)
	p.locks = nil
}

// Output is an output being written, a *File or a *Dir, that Commit
// installs together with others.
type Output interface {
	finish() error
	// install puts the temporary in place of the target; it runs inside
	// committing and returns a path to remove afterwards, or "".
	install() (string, error)
	// clear removes the target, or moves it aside for install to remove;
	// it runs inside committing.
	clear() error
	targetPath() string
	Discard()
}

// Commit installs outputs that must agree, such as an image layout, its
// tarball and its digest file, then discards them (releasing their locks).
// The invariant: at every instant, each target after the first is either
// absent or written by the same Commit as the first. Nothing is installed
// unless every output was written and closed, so a failed write (a full
// disk) leaves all the old targets as they were.
func Commit(outs ...Output) (err error) {
	defer errprefix.Add(&err, "atomicfile")
	for _, o := range outs {
		defer o.Discard()
	}
	return commitAll(outs)
}

// commitAll finishes every output, then, inside committing, removes the
// old targets of all but the first and installs them in order.
func commitAll(outs []Output) error {
	seen := map[string]bool{}
	for _, o := range outs {
		t := filepath.Clean(o.targetPath())
		if seen[t] {
			return fmt.Errorf("%w: %q is given for two outputs", ErrOutput, t)
		}
		seen[t] = true
	}
	for _, o := range outs {
		if err := o.finish(); err != nil {
			return err
		}
	}
	var remove []string
	err := committing(func() error {
		for _, o := range outs[1:] {
			if err := o.clear(); err != nil {
				return err
			}
		}
		testHook("second removed")
		for i, o := range outs {
			old, err := o.install()
			if err != nil {
				return err
			}
			if old != "" {
				remove = append(remove, old)
			}
			if i == 0 {
				testHook("first renamed")
			}
		}
		return nil
	})
	for _, old := range remove {
		if rerr := os.RemoveAll(old); rerr != nil && err == nil {
			err = fmt.Errorf("remove the replaced %s: %w", old, rerr)
		}
		untrack(old)
	}
	return err
}
