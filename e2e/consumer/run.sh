#!/usr/bin/env bash
# e2e/consumer/run.sh: builds and tests e2e/consumer the way a user does, from
# a release archive, offline, with the prebuilt and the source toolchains.
#
#   e2e/consumer/run.sh [--version 0.0.0-e2e] [--release DIR] [--keep]
#
# 1. tools/release/build.sh builds a release (binaries, module archive) into a
#    temporary folder, unless --release names one already built.
# 2. The folder is served on a loopback HTTP port. Bazel's downloader config
#    rewrites the GitHub release URLs to it: the consumer's MODULE.bazel and
#    the module extension use the real URLs, as a user's would.
# 3. e2e/consumer and e2e/consumer/go are copied to a temporary folder, and the
#    lines between their install-snippet markers are replaced by the README's
#    install snippet (tools/release/snippet.sh) for that release.
# 4. consumer (C and a prebuilt file, no rules_go): `bazel test //...` with
#    the prebuilt toolchain. Then: which repositories Bazel fetched (no Go SDK,
#    no rules_go toolchain), and which capslayer an execution platform of each
#    OS/CPU gets (bazel aquery).
# 5. consumer/go (adds a go_binary; rules_go and a Go SDK): `bazel test` of its
#    layer and of the consumer's, once with the prebuilt toolchain and once with
#    the source toolchains (--extra_toolchains=@rules_capslayer//rules/source:all);
#    the layers must be byte-identical between the two.
#
# Runs Bazel through tools/bazel, with none of this repository's .bazelrc
# flags. Each workspace gets its own Bazel server, shut down at the end.
# Measured here (2 cores shared with 7 jobs, load average 16-25, offline
# chroot, the Go SDK zip already in the repository cache), cold output bases:
# consumer 31-36 s, consumer/go with the prebuilt toolchain 278-315 s (Go
# stdlib and builder), then with the source toolchain 226-520 s; 10-15 min
# in all. It prints its own timings (TIME lines).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
bazel=$repo/tools/bazel

version=0.0.0-e2e release='' keep=0
while (($#)); do
  case $1 in
    --version) version=$2 && shift 2 ;;
    --release) release=$2 && shift 2 ;;
    --keep) keep=1 && shift ;;
    *)
      echo "usage: e2e/consumer/run.sh [--version V] [--release DIR] [--keep]" >&2
      exit 2
      ;;
  esac
done

tmp=$(mktemp -d /tmp/capslayer-consumer.XXXXXX)
server_pid=''
workspaces=()
cleanup() {
  local ws
  for ws in "${workspaces[@]}"; do
    (cd "$ws" && b shutdown >/dev/null 2>&1) || true
  done
  [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
  if ((keep)); then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

failures=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*"
  failures=$((failures + 1))
}
timed() { # timed NAME CMD...: runs CMD, prints its wall time.
  local name=$1 start=$SECONDS status=0
  shift
  "$@" || status=$?
  printf 'TIME  %s: %d s\n' "$name" "$((SECONDS - start))"
  return "$status"
}

# 1. The release. A --release given relative to the caller's directory is made
# absolute: the steps below run in the consumer workspaces.
if [[ -n $release ]]; then
  release=$(cd "$release" 2>/dev/null && pwd -P) || {
    echo "e2e/consumer/run.sh: --release $release: no such folder; build one with tools/release/build.sh --out DIR" >&2
    exit 2
  }
else
  release=$tmp/release
  timed "tools/release/build.sh (5 platforms)" "$repo/tools/release/build.sh" --version "$version" --out "$release" >/dev/null
fi
integrity=$(<"$release/integrity.txt")
version=$(sed -n 's/^# rules_capslayer v//p' "$release/release-notes.md")

# 2. Loopback HTTP server and the URL rewrite.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$release" "$port" >"$tmp/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/integrity.txt" 2>/dev/null && break
  sleep 0.1
done
cat >"$tmp/downloader.cfg" <<EOF
rewrite github.com/capslayer/rules_capslayer/releases/download/v$version/(.*) http://127.0.0.1:$port/\$1
EOF

# 3. The workspaces, with the release's install snippet.
snippet=$("$repo/tools/release/snippet.sh" "$version" "$integrity")
mkdir "$tmp/consumer"
tar -C "$here" --exclude='./bazel-*' --exclude=./go/bazel-\* --exclude=./run.sh -cf - . | tar -C "$tmp/consumer" -xf -
for module in "$tmp/consumer/MODULE.bazel" "$tmp/consumer/go/MODULE.bazel"; do
  awk -v snippet="$snippet" '
    /^# install-snippet:/ { print snippet; skip = 1; next }
    skip && /^# \.\.\. to here\.$/ { skip = 0; next }
    !skip { print }
  ' "$module" >"$module.new"
  mv "$module.new" "$module"
  grep -qF "integrity = \"$integrity\"" "$module" || fail "$module: the install snippet was not put in"
done
workspaces=("$tmp/consumer" "$tmp/consumer/go")
# Bazel's flags for every command: the URL rewrite, and nothing of this
# repository's .bazelrc.
flags=("--experimental_downloader_config=$tmp/downloader.cfg")
# Offline (tools/bazel's chroot, when no bazel or bazelisk is installed), the
# environment's bazelrc overrides rules_pkg and stardoc, this repository's dev
# dependencies; Bazel refuses overrides of modules a workspace does not have
# ("the root module specifies overrides on nonexistent module(s)"). So the
# consumer gets the environment's bazelrc without those two lines, and with
# --noenable_workspace: Bazel 7's WORKSPACE suffix would fetch bazel_skylib
# from GitHub, out of reach here (Bazel 8 has it off by default).
startup=()
env_dir=$("$repo/tools/offline/provision.sh" env-dir)
if [[ -f $env_dir/ready && ${CAPSLAYER_BAZEL_MODE:-} != online ]] && ! command -v bazel >/dev/null && ! command -v bazelisk >/dev/null; then
  cat "$env_dir/root/etc/bazel/bazelrc" "$env_dir/root/etc/bazel.bazelrc" |
    grep -v -e '^try-import /etc/bazel.bazelrc$' -e '--override_module=rules_pkg=' -e '--override_module=stardoc=' >"$tmp/offline.bazelrc"
  echo 'common --noenable_workspace' >>"$tmp/offline.bazelrc"
  startup=(--nosystem_rc "--bazelrc=$tmp/offline.bazelrc")
fi
b() {
  local command=$1
  shift
  CAPSLAYER_BAZEL_MOUNTS=$tmp "$bazel" "${startup[@]}" "$command" "$@"
}

# 4. The consumer without Go: prebuilt toolchain.
cd "$tmp/consumer"
if timed "consumer, prebuilt toolchain: cold bazel test //... (server start, fetches, C build)" b test "${flags[@]}" //...; then
  pass "consumer: layers of a cc_binary and a prebuilt file, checked by capslayer inspect"
else
  fail "consumer: bazel test //..."
fi
external=$(b info "${flags[@]}" output_base 2>/dev/null)/external
fetched=$(find "$external" -maxdepth 1 -name '*.marker' -printf '%f\n' | sed 's/^@//; s/\.marker$//' | LC_ALL=C sort)
printf 'repositories fetched:\n  %s\n' "${fetched//$'\n'/$'\n'  }"
# A Go SDK would be a repository of rules_go's go_sdk extension named
# *_sdk (go_default_sdk, ...); capslayer's Go dependencies come from gazelle's
# go_deps. rules_go's own repository and its toolchain declarations
# (go_toolchains) may be read: rules_go registers them for every build.
go_repos=$(grep -E 'go_sdk[~+].*sdk|go_default_sdk|go_deps[~+]' <<<"$fetched" || true)
if [[ -n $go_repos ]]; then
  fail "consumer: the prebuilt path fetched a Go SDK or Go dependencies: $(paste -sd' ' <<<"$go_repos")"
else
  pass "consumer: no Go SDK and no Go dependency fetched (rules_go repositories read: $(grep -c rules_go <<<"$fetched" || true))"
fi
if grep -q 'capslayer_linux_amd64$' <<<"$fetched"; then
  pass "consumer: the linux_amd64 capslayer was downloaded"
else
  fail "consumer: the prebuilt linux_amd64 capslayer was not fetched"
fi
if grep -Eq 'capslayer_(darwin|windows|linux_arm64)' <<<"$fetched"; then
  fail "consumer: binaries of other platforms were downloaded too"
else
  pass "consumer: only that binary was downloaded"
fi

# Which capslayer each execution platform gets.
for exec in linux_x86_64:linux_amd64 linux_aarch64:linux_arm64 macos_x86_64:darwin_amd64 macos_aarch64:darwin_arm64 windows_x86_64:windows_amd64; do
  file=capslayer-${exec#*:}
  if [[ ! -f $release/${file/_/-} && ! -f $release/${file/_/-}.exe ]]; then
    # A release of fewer platforms (build.sh --platforms) is for local tries
    # only; in CI every platform must be there.
    if [[ ${CI:-} == true ]]; then
      fail "exec platform ${exec%%:*}: no ${exec#*:} binary in the release"
    else
      echo "SKIP  exec platform ${exec%%:*}: no ${exec#*:} binary in the release"
    fi
    continue
  fi
  argv0=$(b aquery "${flags[@]}" --extra_execution_platforms="//:exec_${exec%%:*}" --output=jsonproto \
    'mnemonic("CapsLayer", //:prebuilt_layer)' 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin)["actions"][0]["arguments"][0])')
  want=${exec#*:}
  want="capslayer_$want/capslayer"
  if [[ $argv0 == *"$want" || $argv0 == *"$want.exe" ]]; then
    pass "execution platform ${exec%%:*}: runs $argv0"
  else
    fail "execution platform ${exec%%:*}: want .../$want, got $argv0"
  fi
done

# 5. The consumer with Go: both toolchains, identical layers.
cd "$tmp/consumer/go"
targets=(//:go_layer_test @capslayer_consumer//:layers_test)
layers=(//:go_layer @capslayer_consumer//:cc_layer @capslayer_consumer//:prebuilt_layer)
# files FLAGS... TARGETS...: the absolute paths of the targets' files.
files() {
  local f base root
  base=$(b info "${flags[@]}" output_base 2>/dev/null)
  root=$(b info "${flags[@]}" execution_root 2>/dev/null)
  for f in $(b cquery "${flags[@]}" --output=files "$@" 2>/dev/null); do
    case $f in
      external/*) printf '%s/%s\n' "$base" "$f" ;;
      *) printf '%s/%s\n' "$root" "$f" ;;
    esac
  done
}
digests() { # digests FLAGS...: sha256 of each layer as built with FLAGS.
  local f expr
  # cquery takes one expression: the union of the layers.
  expr=$(printf ' + %s' "${layers[@]}")
  for f in $(files "$@" "${expr:3}"); do
    printf '%s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "${f##*/}"
  done
}
if timed "consumer/go, prebuilt toolchain: cold bazel test (server start, Go SDK, go_binary)" b test "${flags[@]}" "${targets[@]}"; then
  pass "consumer/go, prebuilt toolchain: go_binary, cc_binary and prebuilt-file layers"
else
  fail "consumer/go, prebuilt toolchain: bazel test"
fi
prebuilt_digests=$(digests)
tool=$(files @rules_capslayer//rules:resolved_toolchain)
got=$("$tool" version 2>&1 || true)
if [[ $tool == *capslayer_linux_amd64/capslayer && $got == "capslayer $version (commit "*")" && $got != *unknown* ]]; then
  pass "the prebuilt toolchain runs the release's capslayer: $got"
else
  fail "prebuilt toolchain: $tool: $got"
fi

source_flags=("--extra_toolchains=@rules_capslayer//rules/source:all")
if timed "consumer/go, source toolchain: bazel test (builds capslayer from source)" b test "${flags[@]}" "${source_flags[@]}" "${targets[@]}"; then
  pass "consumer/go, source toolchain: the same three layers"
else
  fail "consumer/go, source toolchain: bazel test"
fi
tool=$(files "${source_flags[@]}" @rules_capslayer//rules:resolved_toolchain)
got=$("$tool" version 2>&1 || true)
if [[ $tool == */capslayer/capslayer_/capslayer && $got == "capslayer $version (commit unknown)" ]]; then
  pass "the source toolchain's capslayer is built from the archive: $got"
else
  fail "source toolchain: $tool: $got"
fi
source_digests=$(digests "${source_flags[@]}")
printf 'layer digests (prebuilt toolchain):\n%s\n' "$prebuilt_digests"
if [[ $(wc -l <<<"$prebuilt_digests") == "${#layers[@]}" && $prebuilt_digests == "$source_digests" ]]; then
  pass "prebuilt and source toolchains write byte-identical layers"
else
  fail "layers differ between toolchains:"$'\n'"$prebuilt_digests"$'\n'"vs"$'\n'"$source_digests"
fi

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
