//go:build !linux

package activate

import (
	"errors"
	"runtime"
)

// ErrUnsupported is what this package offers outside Linux: file
// capabilities, and the Raise, Check and Diagnose that act on them, exist
// only on Linux, so on other systems the package holds nothing else. A
// program built for several systems reports it instead of calling Raise.
var ErrUnsupported = errors.New("activate: file capabilities are Linux-only; unsupported on " + runtime.GOOS)
