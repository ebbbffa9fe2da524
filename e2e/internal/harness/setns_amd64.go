package harness

// sysSetns is setns(2) on amd64. The frozen syscall package lists it for
// every Linux architecture except amd64 and 386, and golang.org/x/sys/unix is
// not worth a dependency for one number (arch/x86/entry/syscalls/syscall_64.tbl).
const sysSetns = 308
