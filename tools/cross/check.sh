#!/usr/bin/env bash
# Builds capslayer for every platform it supports and runs the unit tests of
# capslayer/... for linux/arm64 under qemu-user (Debian's qemu-user-static).
#
#   tools/cross/check.sh            # both steps
#   tools/cross/check.sh build      # cross-compile (and vet, tests included) only
#   tools/cross/check.sh arm64      # linux/arm64 tests only
#
# Cross-compiling proves that no package except capslayer/activate needs
# Linux. The arm64 tests include the golden-file tests of
# capslayer/layer and capslayer (TestLayerGolden, TestGolden...): an arm64
# capslayer writes the same layer bytes as the amd64 one.
#
# Not run under qemu, all of them run natively in go test ./...:
# capslayer/activate (it acts on the running process's capabilities;
# qemu-user emulates user space and the kernel never applies an emulated
# binary's file capabilities), the live setcap/getcap comparisons (-short),
# and the tests of process behaviour listed in native_only below.
set -euo pipefail
cd "$(dirname "$0")/../.."

platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)

build() {
  for p in "${platforms[@]}"; do
    echo "go build ./capslayer/... for $p"
    CGO_ENABLED=0 GOOS="${p%/*}" GOARCH="${p#*/}" go build ./capslayer/...
  done
  # go vet compiles the tests too: a test file that calls a Linux-only API
  # must carry a build constraint (a _linux_test.go or _unix_test.go file).
  for os in darwin windows; do
    echo "go vet ./capslayer/... for $os"
    CGO_ENABLED=0 GOOS="$os" go vet ./capslayer/...
  done
}

arm64() {
  local qemu
  qemu=$(command -v qemu-aarch64-static) || {
    echo "qemu-aarch64-static not found: apt-get install qemu-user-static" >&2
    exit 1
  }
  # CAPSLAYER_TEST_EXEC: tests that re-run their own binary do it through
  # qemu too (binfmt_misc is not needed).
  local pkgs
  # Tests of process behaviour, not of bytes: they fork their own test
  # binary to kill it, signal it or measure its memory, which says nothing
  # about arm64 and, under user-mode emulation, forks an arm64 binary the
  # host cannot exec. They run natively in go test ./....
  local native_only='^(TestImageMemoryBoundedLikeInspect|TestLayerConcurrentRuns|TestLayerKilledRuns|TestKillDuringPairCommit|TestSignalRemovesTemporaries)$'
  mapfile -t pkgs < <(go list ./capslayer/... | grep -v '/capslayer/activate$')
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 CAPSLAYER_TEST_EXEC="$qemu" \
    go test -short -count=1 -timeout 8m -exec "$qemu" -skip "$native_only" "${pkgs[@]}"
}

case "${1:-all}" in
  build) build ;;
  arm64) arm64 ;;
  all) build; arm64 ;;
  *) echo "usage: $0 [build|arm64|all]" >&2; exit 2 ;;
esac
