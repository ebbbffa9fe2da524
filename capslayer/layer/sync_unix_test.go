//go:build unix

package layer

import "syscall"

// syncAll flushes every dirty page of the machine (sync(2)).
func syncAll() { syscall.Sync() }
