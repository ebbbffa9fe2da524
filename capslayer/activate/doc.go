// Package activate lets a program that ships with file capabilities make them
// effective at start-up, drop every other privilege, and explain clearly why
// it could not when the container was not started the way the image needs.
//
// # Why =p and a helper instead of =ep
//
// A binary whose security.capability xattr carries the effective bit (setcap
// "cap_net_bind_service=ep") gets its capabilities effective at exec, with no
// code. But when the runtime grants fewer capabilities than the file asks for
// (docker run --cap-drop ALL, Kubernetes capabilities.drop: [ALL] without
// add), the kernel refuses the exec itself and all the user sees is
//
//	exec /app/server: operation not permitted
//
// With "=p" (permitted only) the exec always succeeds and the program is in
// charge: it calls [Raise] first thing in main, which moves the capabilities it
// needs from the permitted set to the effective set. When they are missing,
// [Raise] returns an [*Error] that says what the process holds, what it asked
// for, and the likely cause and fix, diagnosed from what the process can see
// ([Diagnose]): the bounding set (the runtime's grant), no_new_privs
// (allowPrivilegeEscalation: false), the binary's own xattr (lost in a COPY,
// or a v3 xattr from another user namespace), a nosuid mount, a tracer.
//
// # What Raise changes
//
// After a successful Raise(v...) the permitted and effective sets are exactly
// v, and the inheritable and ambient sets are empty, on every OS thread of the
// process. The bounding set (what exec may ever grant to this process's
// children) can only be lowered by a process holding CAP_SETPCAP. When the
// process holds it (for example root in a container with Docker's default
// capabilities), Raise lowers the bounding set to v as well and then drops
// CAP_SETPCAP itself, unless it was asked for. When it does not (the usual
// non-root file-capability case), the bounding set is left as it is: with
// empty inheritable and ambient sets, a child can only gain capabilities
// through its own file capabilities or set-user-ID root, within the bounding
// set the runtime chose. Raise never changes user or group IDs.
//
// # Threads and cgo
//
// Linux capabilities belong to each thread, and the Go runtime runs
// goroutines on many threads. The libcap cap package applies every change
// through its psx package to all threads at once: with CGO_ENABLED=0 psx uses
// syscall.AllThreadsSyscall (Go 1.16+), with cgo it uses libpsx's signal
// based mechanism. The tests of this package check, as root, that after Raise
// every thread in /proc/self/task reports the same sets, in both builds.
//
// # Other systems
//
// The package is Linux-only, the one package of capslayer that touches the
// running process. It compiles everywhere, but outside Linux it holds only
// ErrUnsupported.
package activate
