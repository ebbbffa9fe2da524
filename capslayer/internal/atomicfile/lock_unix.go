//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// lock is a held flock(2) on a lock file.
type lock struct {
	f    *os.File
	path string
}

// lockFile takes an exclusive flock on path, creating it. The holder
// removes the file when it unlocks, so a waiter may end up holding a lock
// on a file that is no longer at path; it then retries on the new file
// (the usual open-lock-compare protocol).
func lockFile(path string) (*lock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, Perm)
		if err != nil {
			return nil, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		held, herr := f.Stat()
		now, nerr := os.Stat(path)
		if herr == nil && nerr == nil && os.SameFile(held, now) {
			l := &lock{f: f, path: path}
			live.Lock()
			if live.locks == nil {
				live.locks = map[string]*lock{}
			}
			live.locks[path] = l
			live.Unlock()
			return l, nil
		}
		f.Close()
		if herr != nil {
			return nil, herr
		}
	}
}

// unlock removes the lock file, then releases the lock.
func (l *lock) unlock() {
	live.Lock()
	delete(live.locks, l.path)
	live.Unlock()
	os.Remove(l.path)
	l.f.Close()
}
