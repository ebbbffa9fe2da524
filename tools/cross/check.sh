#!/usr/bin/env bash
# Builds capslayer for every platform it supports, runs the unit tests of
# capslayer/... for linux/arm64 under qemu-user (QEMU 8.0 or later: the
# host's, else Debian sid's from the offline Bazel environment; find_qemu),
# and runs the linux/arm64 binary under qemu-user and the windows/amd64 one
# under wine to check that they write the same layers and image, byte for
# byte, as the linux/amd64 one.
#
#   tools/cross/check.sh            # all three
#   tools/cross/check.sh build      # cross-compile (and vet, tests included) only
#   tools/cross/check.sh arm64      # linux/arm64 tests only
#   tools/cross/check.sh bytes [DIR]  # the same bytes from amd64, arm64 (qemu) and windows (wine);
#                                   # with DIR, its release binaries (tools/release/build.sh --out DIR)
#
# What each platform is proven to do:
#   linux/amd64    everything: go test ./..., tools/bazel test //..., the e2e
#                  tests in a real kernel and real engines.
#   linux/arm64    built; the unit tests (golden layer bytes included) pass
#                  under qemu-user; the CLI writes the same layers and image.
#   windows/amd64  built and vetted (tests included); the CLI, run under wine,
#                  writes the same layers and image.
#   darwin/amd64, darwin/arm64
#                  built and vetted (tests included) only: nothing here runs
#                  a darwin binary, so their bytes are not checked.
#
# bytes needs wine 9 or later (Go 1.26 binaries need bcryptprimitives.dll,
# which Debian 12's wine 8 lacks): a wine on PATH if it is new enough, else
# Debian sid's in the offline Bazel environment (its "cross" tier, installed
# by tools/bazel on first use; needs root).
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

# release_go GOOS GOARCH GO_ARGS...: the go command with the release's
# environment and compiler flags (tools/release/build.sh), so that the
# packages it compiles are the ones the release build finds in the Go build
# cache, and the vet and the arm64 tests below reuse the cross-compile's.
release_go() {
  local os=$1 arch=$2 cmd=$3
  shift 3
  env -u GOFLAGS -u GOEXPERIMENT CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" GOAMD64=v1 GOARM64=v8.0 \
    go "$cmd" -mod=readonly -trimpath -buildvcs=false "$@"
}

build() {
  for p in "${platforms[@]}"; do
    echo "go build ./capslayer/... for $p"
    release_go "${p%/*}" "${p#*/}" build ./capslayer/...
  done
  # go vet compiles the tests too: a test file that calls a Linux-only API
  # must carry a build constraint (a _linux_test.go or _unix_test.go file).
  for os in darwin windows; do
    echo "go vet ./capslayer/... for $os"
    release_go "$os" amd64 vet ./capslayer/...
  done
}

# find_qemu prints the path of a qemu-aarch64 of QEMU 8.0 or later: the
# host's when it is that new, else Debian sid's (static) from the offline
# Bazel environment's cross tier, which tools/bazel installs on first use
# (needs root). QEMU 7.2, Debian 12's qemu-user-static, breaks os/exec in Go
# programs (golang/go#69259): there a test that starts a process hangs at
# random in fork, and so did this check.
find_qemu() {
  local name q major
  for name in qemu-aarch64-static qemu-aarch64; do
    q=$(command -v "$name") || continue
    major=$("$q" --version 2>/dev/null | sed -n '1s/^qemu-aarch64 version \([0-9][0-9]*\)\..*/\1/p')
    if [[ -n $major ]] && ((major >= 8)); then
      printf '%s\n' "$q"
      return 0
    fi
  done
  echo "no qemu-aarch64 of QEMU 8.0 or later on PATH: using Debian sid's from the offline Bazel environment (tools/bazel, cross tier)" >&2
  CAPSLAYER_BAZEL_MODE=shell CAPSLAYER_BAZEL_TIERS=cross tools/bazel -c true >&2 || return 1
  q=$(tools/offline/provision.sh env-dir)/root/usr/bin/qemu-aarch64
  if [[ -x $q ]] && "$q" --version >/dev/null; then
    printf '%s\n' "$q"
    return 0
  fi
  echo "$q is missing: is qemu-user in tools/offline/packages/cross.txt? Or install QEMU 8.0 or later (Debian 13: apt-get install qemu-user)" >&2
  return 1
}

arm64() {
  local qemu
  qemu=$(find_qemu) || exit 1
  echo "linux/arm64 tests under $("$qemu" --version | head -n 1) ($qemu)"
  # CAPSLAYER_TEST_EXEC: tests that re-run their own binary do it through
  # qemu too (binfmt_misc is not needed).
  local pkgs
  # Tests of process behaviour, not of bytes: they fork their own test
  # binary to kill it, signal it, measure its memory or count its network
  # connections and time, which says nothing
  # about arm64 and, under user-mode emulation, forks an arm64 binary the
  # host cannot exec. They run natively in go test ./....
  local native_only='^(TestImageMemoryBoundedLikeInspect|TestLayerConcurrentRuns|TestLayerKilledRuns|TestKillDuringPairCommit|TestSignalRemovesTemporaries|TestRegistryCommandsEndWithinTimeout|TestRegistryHostileRSS|TestPathIsNeverAReference)$'
  mapfile -t pkgs < <(go list ./capslayer/... | grep -v '/capslayer/activate$')
  CAPSLAYER_TEST_EXEC="$qemu" release_go linux arm64 test \
    -short -count=1 -timeout 8m -exec "$qemu" -skip "$native_only" "${pkgs[@]}"
}

# BYTES_SCRIPT, run as `sh -c "$BYTES_SCRIPT" sh BINARY RUNNER...` in an
# output folder, writes with `RUNNER... ./BINARY` the example layers and image from the inputs in OUTDIR/../in:
# --binary (plain, gzip, zstd), --file, --from-tar (from a plain, a gzip and a
# zstd input; gzip and zstd outputs), and an image of two of them (layout,
# docker-archive tarball, digest). Every path is relative, so the same
# command line works for a Windows binary under wine. stdout (the printed
# digests) goes to stdout.txt.
# shellcheck disable=SC2016 # expanded by sh -c
readonly BYTES_SCRIPT='
set -eu
c=$1
shift
{
  for ext in tar tar.gz tar.zst; do
    printf "binary.%s " "$ext"
    "$@" "./$c" layer --binary ../in/hello --path /app/hello --caps cap_net_bind_service=ep \
      --output "binary.$ext" --descriptor "binary.$ext.json" --print-digest
  done
  printf "files.tar.zst "
  "$@" "./$c" layer --file /app/hello=../in/hello:cap_net_bind_service,cap_net_raw=ep \
    --file /etc/motd=../in/motd --owner 1000:1000 --output files.tar.zst --print-digest
  for in in tar tar.gz tar.zst; do
    for ext in tar.gz tar.zst; do
      printf "from-%s.%s " "$in" "$ext"
      "$@" "./$c" layer --from-tar "../in/pkg.$in" --set /usr/bin/ping=cap_net_raw=p \
        --output "from-$in.$ext" --descriptor "from-$in.$ext.json" --print-digest
    done
  done
  "$@" "./$c" image --layer from-tar.tar.gz --layer binary.tar.zst --entrypoint /app/hello \
    --user 1000 --env LANG=C.UTF-8 --output image --tarball image.tar --tag example.com/hello:v1 \
    --digest-file image.digest
} >stdout.txt
'

# bytes writes the example layers and image with the linux/amd64,
# linux/arm64 (under qemu-user) and windows/amd64 (under wine) binaries and
# fails unless every output file and printed digest is the same.
bytes() {
  local dist=${1:-} qemu
  if [[ -n $dist ]]; then
    dist=$(cd "$dist" && pwd -P)
  fi
  qemu=$(find_qemu) || exit 1
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/in" "$tmp/linux_amd64" "$tmp/linux_arm64" "$tmp/windows_amd64"
  # Inputs, made once and shared: a static binary and a package-like tar.
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o "$tmp/in/hello" ./examples/hello
  printf 'Welcome.\n' >"$tmp/in/motd"
  mkdir -p "$tmp/pkg/usr/bin" "$tmp/pkg/etc/iputils" "$tmp/pkg/var/lib/iputils"
  cp "$tmp/in/hello" "$tmp/pkg/usr/bin/ping"
  printf '{}\n' >"$tmp/pkg/etc/iputils/config.json"
  ln -s ping "$tmp/pkg/usr/bin/ping4"
  chmod 0755 "$tmp/pkg/usr/bin/ping"
  chmod 0640 "$tmp/pkg/etc/iputils/config.json"
  tar -C "$tmp/pkg" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$tmp/in/pkg.tar" .
  gzip -n -9 <"$tmp/in/pkg.tar" >"$tmp/in/pkg.tar.gz"
  zstd -q -19 <"$tmp/in/pkg.tar" >"$tmp/in/pkg.tar.zst"
  if [[ -n $dist ]]; then
    echo "the release binaries of $dist"
    cp "$dist/capslayer-linux-amd64" "$tmp/linux_amd64/capslayer"
    cp "$dist/capslayer-linux-arm64" "$tmp/linux_arm64/capslayer"
    cp "$dist/capslayer-windows-amd64.exe" "$tmp/windows_amd64/capslayer.exe"
  else
    CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o "$tmp/linux_amd64/capslayer" ./capslayer
    CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o "$tmp/linux_arm64/capslayer" ./capslayer
    CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -o "$tmp/windows_amd64/capslayer.exe" ./capslayer
  fi

  local env=(env SOURCE_DATE_EPOCH=0)
  echo "linux/amd64: writing the example layers and image"
  (cd "$tmp/linux_amd64" && sh -c "$BYTES_SCRIPT" sh capslayer "${env[@]}")
  echo "linux/arm64 under $qemu: the same"
  (cd "$tmp/linux_arm64" && sh -c "$BYTES_SCRIPT" sh capslayer "${env[@]}" "$qemu")

  # wine: WINEPREFIX in the scratch folder (created on first start, about
  # 10 s), no Mono or Gecko installer, no debug chatter on stderr. Its
  # wineserver outlives the last program by a few seconds: wait for it, so
  # that nothing keeps running (or writing to the prefix) afterwards.
  export WINEPREFIX=$tmp/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' XDG_RUNTIME_DIR=$tmp/xdg
  mkdir -m 0700 "$tmp/xdg"
  # shellcheck disable=SC2016 # expanded by the shell that runs it
  local wait_wineserver='for w in wineserver /usr/lib/*/wine/wineserver /usr/lib/wine/wineserver; do if command -v "$w" >/dev/null; then "$w" -w; break; fi; done'
  local wine_env=(WINEPREFIX="$WINEPREFIX" WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR")
  local wine_version
  if wine_version=$(wine --version 2>/dev/null) && [[ $wine_version =~ ^wine-([0-9]+) ]] && ((BASH_REMATCH[1] >= 9)); then
    echo "windows/amd64 under the host's $wine_version: the same"
    (cd "$tmp/windows_amd64" && sh -c "$BYTES_SCRIPT" sh capslayer.exe "${env[@]}" "${wine_env[@]}" wine)
    sh -c "$wait_wineserver"
  else
    echo "windows/amd64 under Debian sid's wine in the offline Bazel environment (tools/bazel, cross tier): the same"
    # shellcheck disable=SC2016 # expanded by the shell in the chroot
    CAPSLAYER_BAZEL_MODE=shell CAPSLAYER_BAZEL_TIERS=cross CAPSLAYER_BAZEL_MOUNTS="$tmp" tools/bazel -c \
      'bytes=$0 dir=$1 wait=$2 prefix=$3 && shift 3 && wine --version && cd "$dir" || exit 1
       status=0
       sh -c "$bytes" sh capslayer.exe "$@" || status=$?
       WINEPREFIX=$prefix sh -c "$wait"
       exit "$status"' \
      "$BYTES_SCRIPT" "$tmp/windows_amd64" "$wait_wineserver" "$WINEPREFIX" "${env[@]}" "${wine_env[@]}" wine
  fi

  rm -f "$tmp/windows_amd64/capslayer.exe" "$tmp/linux_amd64/capslayer" "$tmp/linux_arm64/capslayer"
  rm -rf "$tmp/wineprefix"
  local p failed=0 n
  n=$(find "$tmp/linux_amd64" -type f | wc -l)
  for p in linux_arm64 windows_amd64; do
    if diff -r "$tmp/linux_amd64" "$tmp/$p" >"$tmp/diff" 2>&1; then
      echo "$p: the same $n files as linux/amd64"
    else
      echo "$p: NOT the same bytes as linux/amd64:" >&2
      cat "$tmp/diff" >&2
      failed=1
    fi
  done
  echo "layer and image digests (the same on all three):"
  sed 's/^/  /' "$tmp/linux_amd64/stdout.txt"
  echo "  image $(cat "$tmp/linux_amd64/image.digest")"
  ((n > 20)) || {
    echo "only $n output files: the example run is incomplete" >&2
    failed=1
  }
  return "$failed"
}

case "${1:-all}" in
  build) build ;;
  arm64) arm64 ;;
  bytes) bytes "${2:-}" ;;
  all) build; arm64; bytes ;;
  *) echo "usage: $0 [build|arm64|bytes [DIR]|all]" >&2; exit 2 ;;
esac
