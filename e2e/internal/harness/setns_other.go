//go:build linux && !amd64

package harness

import "syscall"

const sysSetns = syscall.SYS_SETNS
