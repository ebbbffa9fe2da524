//go:build linux && !cgo

package activate

// cgoBuild reports whether the test binary uses cgo, so libcap's psx package
// uses libpsx rather than syscall.AllThreadsSyscall.
const cgoBuild = false
