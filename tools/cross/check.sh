#!/usr/bin/env bash
# Builds capslayer for every platform it supports and runs the unit tests of
# capslayer/... for linux/arm64 under qemu-user (Debian's qemu-user-static).
#
#   tools/cross/check.sh            # both steps
#   tools/cross/check.sh build      # cross-compile only
#   tools/cross/check.sh arm64      # linux/arm64 tests only
#
# Cross-compiling proves that no package except capslayer/activate needs
# Linux (issue 12 §1). The arm64 tests include the golden-file tests of
# capslayer/layer and capslayer (TestLayerGolden, TestGolden...): an arm64
# capslayer writes the same layer bytes as the amd64 one.
#
# -short: the tests that measure processes (kill, concurrency, memory at
# 1 M entries) skip under -short; they run natively in go test ./... and
# under emulation would take minutes without testing anything about arm64.
#
# Not run under qemu: capslayer/activate (it acts on the running process's
# capabilities; qemu-user emulates user space and the kernel never applies
# an emulated binary's file capabilities) and TestLayerHelloExample (it runs
# a freshly built binary with file capabilities in the kernel, which needs
# the native architecture). Both run in the native go test ./... step.
set -euo pipefail
cd "$(dirname "$0")/../.."

platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)

build() {
  for p in "${platforms[@]}"; do
    echo "go build ./capslayer/... for $p"
    CGO_ENABLED=0 GOOS="${p%/*}" GOARCH="${p#*/}" go build ./capslayer/...
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
  mapfile -t pkgs < <(go list ./capslayer/... | grep -v '/capslayer/activate$')
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 CAPSLAYER_TEST_EXEC="$qemu" \
    go test -short -count=1 -exec "$qemu" -skip '^TestLayerHelloExample$' "${pkgs[@]}"
}

case "${1:-all}" in
  build) build ;;
  arm64) arm64 ;;
  all) build; arm64 ;;
  *) echo "usage: $0 [build|arm64|all]" >&2; exit 2 ;;
esac
