package atomicfile

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

var handleOnce sync.Once

// HandleSignals makes SIGINT, SIGTERM and SIGHUP remove the temporary files
// and locks of outputs being written, then end the process as the signal
// would have. Only a program's main package should call it: it takes over
// those signals for the life of the process. SIGKILL cannot be caught; the
// next writer of the same output cleans up after it.
func HandleSignals() {
	handleOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			sig := <-ch
			cleanup()
			signal.Reset(sig)
			if p, err := os.FindProcess(os.Getpid()); err == nil && p.Signal(sig) == nil {
				time.Sleep(time.Second) // the signal ends the process
			}
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		}()
	})
}

// cleanup removes every temporary output and lock file still live. Locks
// stay held: the process is about to end, which releases them.
func cleanup() {
	live.Lock()
	defer live.Unlock()
	live.dying = true
	for p := range live.temps {
		os.RemoveAll(p)
	}
	for p := range live.locks {
		os.Remove(p)
	}
}
