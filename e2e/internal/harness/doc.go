// Package harness is the shared machinery of the end-to-end tests under e2e/:
// it finds or builds the binaries under test, runs external tools with
// bounded waits, creates private network namespaces on 127.0.0.1, starts the
// example server as an unprivileged user and reads what the kernel granted it
// from /proc/<pid>/status.
//
// The tests run both under `go test ./e2e/...` (binaries are built from the
// module's sources with `go build`) and under `bazel test //e2e/...`
// (binaries come from runfiles through environment variables such as
// CAPSLAYER_BIN and SERVER_BIN). They need root and real tools; when either
// is missing a test skips with the reason, unless CAPSLAYER_E2E_STRICT=1 (set
// in CI) turns the skip into a failure so nothing passes silently there.
package harness
