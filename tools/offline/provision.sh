#!/usr/bin/env bash
# tools/offline/provision.sh: the offline Bazel environment of rules_capslayer.
#
#   tools/offline/provision.sh run ARGS...     run Bazel with ARGS in it
#   tools/offline/provision.sh shell [ARGS...] run bash (with ARGS) in it
#   tools/offline/provision.sh env-dir         print its folder (no side effect)
#
# tools/bazel runs this when it decides for offline mode (docs/bazel-offline.md
# has the user's view). The first run, as root, provisions into a cache folder
# a Debian sid chroot with Debian's Bazel (bazel-bootstrap) and rule sets,
# rules_go and gazelle from the Go module proxy and the stub modules in
# tools/offline/stubs; every run then enters it in a private mount namespace
# and runs Bazel there. Nothing but the Debian archive and the Go module proxy
# is contacted.
#
# Environment knobs (all optional):
#   CAPSLAYER_BAZEL_CACHE=DIR     where offline environments live
#                                 (default ${XDG_CACHE_HOME:-$HOME/.cache}/rules_capslayer)
#   CAPSLAYER_DEBIAN_MIRROR=URL   Debian mirror (default: the host's apt sources)
#   CAPSLAYER_BAZEL_MOUNTS=DIR:.. more host folders to mount at the same path
#                                 (e.g. a local_path_override outside the workspace)
#   CAPSLAYER_BAZEL_TIERS=e2e,cross  extra tiers to install before running,
#                                 beyond those the command needs (wanted_tiers)
#   CAPSLAYER_KUBE_BIN_DIR=DIR    the Kubernetes binaries of e2e/kubernetes
#                                 (build.sh's output): passed in and mounted
#
# Exit status: Bazel's own, or 36 (Bazel's "local environmental issue") when
# the environment cannot be brought up; the message says why and what to do.

set -euo pipefail

# ---------------------------------------------------------------------------
# The recipe. Everything that decides what the offline environment contains
# is here or in tools/offline/; all of it goes into the recipe hash that names
# the environment's folder, so changing any of it provisions a fresh one.

# Bump when the provisioning steps below change in a way that needs a fresh
# environment.
readonly RECIPE_VERSION=5
# Bump when the way an extra tier (tools/offline/packages/*.txt but core) is
# installed changes.
readonly TIER_RECIPE_VERSION=1
readonly DEBIAN_SUITE=sid
# rules_go >= 0.64 needs a newer bazel_features than Debian's 1.11.0; gazelle
# 0.47.0 is the version the rest of the recipe was verified with.
readonly RULES_GO_VERSION=v0.63.0
readonly GAZELLE_VERSION=v0.47.0
# Where rules_go, gazelle and the stubs go inside the chroot.
readonly CHROOT_PREFIX=/opt/rules_capslayer
# Marks a chroot as ours; tools/bazel run inside one just runs its Bazel
# (tools/bazel has the same path).
readonly CHROOT_MARKER=/etc/rules_capslayer-offline
# PATH inside the chroot.
readonly CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Environment variables passed from the host into the chroot when set: proxy
# and Go module settings (needed to reach the network the same way the host
# does) and CI. Nothing else crosses over, so builds and tests see the same
# environment on every host; in particular no locale, timezone, user or
# SOURCE_DATE_EPOCH leaks in (tests set what they need themselves).
readonly PASS_ENV=(
  http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY
  GOPROXY GONOPROXY GOPRIVATE GOSUMDB GONOSUMDB GOINSECURE GOFLAGS
  CI
  # The Kubernetes binaries of e2e/kubernetes (build.sh); the folder is
  # mounted too.
  CAPSLAYER_KUBE_BIN_DIR
)
# Exit status for "cannot bring Bazel up" (Bazel uses 36 for local
# environmental issues).
readonly EXIT_ENV=36

offline_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
readonly offline_src
ws_root=$(cd "$offline_src/../.." && pwd -P)
readonly ws_root

log() { printf 'tools/bazel: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit "$EXIT_ENV"
}

# ---------------------------------------------------------------------------
# The offline environment: locations and recipe hash.

cache_root() {
  local root=${CAPSLAYER_BAZEL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/rules_capslayer}
  mkdir -p "$root"
  (cd "$root" && pwd -P)
}

# The tiers of the environment, each a package list in
# tools/offline/packages/<tier>.txt. "core" (Bazel, its rule sets, Go for
# fetching) is in every environment and named by the recipe hash; the others
# are added to the same chroot when a command first needs them (wanted_tiers)
# and carry hashes of their own, so that changing one never re-provisions the
# core.
readonly TIERS=(core e2e cross)
readonly EXTRA_TIERS=(e2e cross)

# tier_list tier prints that tier's package list without comments, one
# package a line, sorted.
tier_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$offline_src/packages/$1.txt" | grep -v '^$' | LC_ALL=C sort -u
}

# tier_hash tier names the recipe of an extra tier: its package list and the
# way tiers are installed (TIER_RECIPE_VERSION).
tier_hash() {
  {
    printf 'tier-recipe %s\ntier %s\n' "$TIER_RECIPE_VERSION" "$1"
    tier_list "$1" | sed 's/^/package /'
  } | sha256sum | cut -c1-12
}

# tier_blurb tier prints the first line of its file's description, for
# messages.
tier_blurb() {
  case $1 in
    e2e) echo "the test tools, container engines and registry of the e2e tests" ;;
    cross) echo "wine and qemu-user, to run capslayer built for windows/amd64 and linux/arm64" ;;
    *) echo "$1" ;;
  esac
}

host_arch() {
  if command -v dpkg >/dev/null; then
    dpkg --print-architecture
  else
    case $(uname -m) in
      x86_64) echo amd64 ;;
      aarch64) echo arm64 ;;
      *) uname -m ;;
    esac
  fi
}

# content_digest prints the sha256 of a file without its comment-only and
# blank lines, so that editing a comment does not re-provision.
content_digest() {
  sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$1" | sha256sum | cut -d' ' -f1
}

recipe_hash() {
  local f sdk
  sdk=$(go_sdk_pin) || exit "$EXIT_ENV"
  {
    printf 'recipe %s\nsuite %s\narch %s\nrules_go %s\ngazelle %s\nprefix %s\ngo_sdk %s\n' \
      "$RECIPE_VERSION" "$DEBIAN_SUITE" "$(host_arch)" "$RULES_GO_VERSION" "$GAZELLE_VERSION" "$CHROOT_PREFIX" "$sdk"
    tier_list core | sed 's/^/package /'
    while IFS= read -r f; do
      printf 'file %s %s\n' "$f" "$(content_digest "$offline_src/$f")"
    done < <(cd "$offline_src" && { echo bazelrc.in; find stubs repos -type f; } | LC_ALL=C sort)
  } | sha256sum | cut -c1-12
}

# go_sdk_pin prints "<zip> <sha256>" of the Go SDK that MODULE.bazel pins for
# linux on this host's architecture: the golang.org/toolchain zip that Bazel
# downloads from the Go module proxy. Provisioning builds with the same zip,
# so the version and digest are written once, in MODULE.bazel.
go_sdk_pin() {
  local arch line
  arch=linux_$(host_arch)
  line=$(grep -oE "\"$arch\": \(\"[^\"]+\.zip\", \"[0-9a-f]{64}\"\)" "$ws_root/MODULE.bazel" 2>/dev/null | head -n 1) || true
  if [[ -z $line ]]; then
    die "$ws_root/MODULE.bazel pins no Go SDK for $arch: the offline environment builds with the SDK of its go_sdk.download(sdks = {\"$arch\": (\"<zip>\", \"<sha256>\")}); add that line (MODULE.bazel's comment says how to take the sha256)"
  fi
  sed -E 's/^"[^"]+": \("([^"]+)", "([0-9a-f]{64})"\)$/\1 \2/' <<<"$line"
}

# debian_mirror prints the Debian archive URL: $CAPSLAYER_DEBIAN_MIRROR, else
# the first non-security Debian source of the host's apt configuration, else
# deb.debian.org.
debian_mirror() {
  if [[ -n ${CAPSLAYER_DEBIAN_MIRROR:-} ]]; then
    printf '%s\n' "${CAPSLAYER_DEBIAN_MIRROR%/}"
    return
  fi
  local f uri=
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # deb822: paragraphs of "Key: value" lines; take URIs of a "deb"
    # paragraph whose suites are not a security suite.
    uri=$(awk '
      function flush() { if (types ~ /(^| )deb( |$)/ && suites !~ /-security/ && uris != "") { split(uris, u, " "); print u[1]; found = 1; exit } types = suites = uris = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 " " }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "uris:" { $1 = ""; uris = $0 }
      END { if (!found) flush() }
    ' "$f")
    [[ -n $uri ]] && break
  done
  if [[ -z $uri ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f $f ]] || continue
      uri=$(sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 !~ /-security/ { print $2; exit }')
      [[ -n $uri ]] && break
    done
  fi
  uri=${uri:-http://deb.debian.org/debian}
  printf '%s\n' "${uri%/}"
}

# go_proxy prints the first HTTP(S) entry of GOPROXY (the host's setting).
go_proxy() {
  local list=${GOPROXY:-}
  if [[ -z $list ]] && command -v go >/dev/null; then
    list=$(go env GOPROXY 2>/dev/null || true)
  fi
  list=${list:-https://proxy.golang.org,direct}
  local entry
  for entry in ${list//[,|]/ }; do
    case $entry in
      http://* | https://*)
        printf '%s\n' "${entry%/}"
        return 0
        ;;
    esac
  done
  return 1
}

# check_url fails with a clear message when url does not answer.
check_url() {
  local what=$1 url=$2 hint=$3 out
  if ! out=$(curl -fsS -o /dev/null --connect-timeout 10 --max-time 60 --retry 2 "$url" 2>&1); then
    die "cannot reach $what at $url: ${out:-no answer}
  $hint"
  fi
}

# ---------------------------------------------------------------------------
# Entering the chroot.
#
# Every entry gets its own private mount namespace (unshare --mount
# --propagation private): the bind mounts below exist only there and vanish
# with its last process, so nothing is ever mounted under the cache folder as
# seen from the host (deleting it is always safe) and concurrent runs do not
# see each other's mounts.
#
# The Bazel server is a daemon: it keeps the namespace of the client that
# started it, whose mounts are binds of the same host paths, so later clients
# in new namespaces talk to it normally (localhost TCP; the network namespace
# is the host's). For that to work the namespace's root must BE the chroot:
# the client compares readlink(/proc/<server>/cwd) with the workspace path and
# restarts the server when they differ, and the kernel prints another
# namespace's paths relative to that namespace's root mount. After a plain
# chroot the server's cwd would read as <cache>/root/<workspace>, so every
# command would restart the server; pivot_root makes it read <workspace>.

# The script run in the new namespace (single-quoted on purpose: it expands
# its own arguments). Arguments: chroot root, the host folders to mount at the
# same path (workspace roots, ":"-separated, parents first; or ""), output
# user root, then the command line to run in the chroot.
# shellcheck disable=SC2016
readonly ENTER_SCRIPT='
set -eu
R=$1 WS=$2 OUT=$3
shift 3
mount --bind "$R" "$R"
mount --bind /proc "$R/proc"
# rbind: keep /sys/fs/cgroup (runc and podman need the cgroup tree) and
# /dev/pts, /dev/shm, /dev/mqueue.
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
# A fresh /run per namespace: podman, runc and nginx keep state there, and
# the host'"'"'s must neither leak in nor be written to.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run"
mkdir -m 1777 "$R/run/lock"
# Name resolution follows the host (read-only).
for f in /etc/resolv.conf /etc/hosts; do
  if [ -f "$f" ] && [ -f "$R$f" ] && [ ! -L "$R$f" ]; then
    mount --bind "$f" "$R$f"
    mount -o remount,ro,bind "$R$f"
  fi
done
# The workspace and the output tree at the same paths as on the host, so
# paths printed by Bazel and the bazel-* links work from both sides.
IFS=:
for d in $WS; do
  mkdir -p "$R$d"
  mount --bind "$d" "$R$d"
done
unset IFS
mkdir -p "$OUT" "$R$OUT"
mount --bind "$OUT" "$R$OUT"
# Make the chroot the root of this namespace and drop the host'"'"'s root.
mkdir -p "$R/.old-root"
cd "$R"
pivot_root . .old-root
cd /
umount -l /.old-root
exec "$@"
'

# enter_chroot env_dir mounts_or_empty env_words... command... runs
# `env -i env_words... command...` inside the chroot of env_dir and returns
# its exit status.
enter_chroot() {
  local env_dir=$1 ws=$2
  shift 2
  unshare --mount --propagation private -- /bin/sh -c "$ENTER_SCRIPT" enter \
    "$env_dir/root" "$ws" "$env_dir/output" /usr/bin/env -i "$@"
}

# chroot_env prints the NAME=VALUE words of the environment inside the chroot.
chroot_env() {
  local name
  printf '%s\n' HOME=/root USER=root LOGNAME=root SHELL=/bin/sh "PATH=$CHROOT_PATH" LANG=C.UTF-8 "TERM=${TERM:-dumb}"
  for name in "${PASS_ENV[@]}"; do
    if [[ -n ${!name+x} ]]; then
      printf '%s=%s\n' "$name" "${!name}"
    fi
  done
}

# ---------------------------------------------------------------------------
# Provisioning. Each step leaves a stamp in $env_dir/stamps so an interrupted
# provisioning resumes where it stopped; the environment is ready when
# $env_dir/ready exists. Callers hold the environment's lock exclusively.

step_started=0
step() {
  step_started=$SECONDS
  log "[$1] $2"
}
step_done() {
  log "      done in $((SECONDS - step_started)) s"
}

# run_logged runs a command with its output appended to the provisioning log;
# on failure it prints the log's tail and the command, and exits.
run_logged() {
  local logfile=$1
  shift
  printf '\n$ %s\n' "$*" >>"$logfile"
  if ! "$@" >>"$logfile" 2>&1 </dev/null; then
    fail_logged "$logfile" "$*"
  fi
}

# apt-get as provisioning runs it inside the chroot.
readonly APT=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)

# apt_install env_dir logfile packages... installs packages (and what they
# depend on, not what they recommend) in the chroot of env_dir, printing how
# far it got every 20 s. When the package lists are too old for the mirror
# (sid moves daily; a tier may be added weeks after the core), it updates
# them and tries again.
apt_install() {
  local env_dir=$1 logfile=$2
  shift 2
  local env_words=() size
  mapfile -t env_words < <(chroot_env)
  local install=(enter_chroot "$env_dir" "" "${env_words[@]}" "${APT[@]}" install -y --no-install-recommends
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  local uris
  uris=$(enter_chroot "$env_dir" "" "${env_words[@]}" apt-get install -qq --print-uris --no-install-recommends \
    -o Acquire::ForceHash=SHA256 "$@" 2>/dev/null) || uris=
  if [[ -n $uris ]]; then
    size=$(awk '{ n++; s += $3 } END { printf "%d new packages, %.0f MB to download", n, s / 1e6 }' <<<"$uris")
    log "      $size"
    prefetch_debs "$env_dir" "$logfile" <<<"$uris"
  fi
  if ! run_progress "$logfile" "${install[@]}" "$@"; then
    log "      apt-get install failed; updating the package lists and trying again"
    run_logged "$logfile" enter_chroot "$env_dir" "" "${env_words[@]}" "${APT[@]}" update
    run_progress "$logfile" "${install[@]}" "$@" || fail_logged "$logfile" "${install[*]} $*"
  fi
  run_logged "$logfile" enter_chroot "$env_dir" "" "${env_words[@]}" apt-get clean
}

# prefetch_debs env_dir logfile downloads the packages that apt-get's
# --print-uris lines on stdin name ('URI' file size SHA256:hex), 8 at a time,
# into the chroot's archives/partial folder. apt's own download is one
# connection, one file after another: about 20 s for the core tier's 660 MB,
# against 5 s here. apt-get install then treats each file as a download to
# resume: it checks the file against the SHA256 of the signed package index
# and fetches again whatever is missing, short or corrupt, so nothing here
# needs to be trusted and a failure here only costs time.
prefetch_debs() {
  local env_dir=$1 logfile=$2 partial=$1/root/var/cache/apt/archives/partial
  local url file size max=0 n=0 started=$SECONDS config
  mkdir -p "$partial"
  config=$(mktemp)
  while read -r url file size _; do
    url=${url#\'}
    url=${url%\'}
    # Names and URLs as apt prints them for Debian's archive; anything else
    # is left to apt.
    [[ $url =~ ^https?://[A-Za-z0-9./_:%+~-]+$ && $file =~ ^[A-Za-z0-9._+~%-]+\.deb$ && $size =~ ^[0-9]+$ ]] || continue
    printf 'url = "%s"\noutput = "%s"\n' "$url" "$file" >>"$config"
    ((size > max)) && max=$size
    n=$((n + 1))
  done
  if ((n)); then
    # Bounded: no file larger than apt says the largest is, 10 minutes each.
    printf '\n$ curl --parallel (%d packages)\n' "$n" >>"$logfile"
    curl -fsS --parallel --parallel-max 8 --connect-timeout 10 --max-time 600 --retry 2 \
      --max-filesize "$((max + 1))" --output-dir "$partial" -K "$config" >>"$logfile" 2>&1 </dev/null || true
    log "      downloaded in $((SECONDS - started)) s, 8 at a time; apt-get checks each file"
  fi
  rm -f "$config"
}

# run_progress logfile command... runs an apt-get command with its output
# appended to logfile and, every 20 s while it runs, prints how many packages
# it has downloaded, unpacked and set up. Returns the command's status.
run_progress() {
  local logfile=$1
  shift
  printf '\n$ %s\n' "$*" >>"$logfile"
  local start_line pid status=0 waited=0
  start_line=$(($(wc -l <"$logfile") + 1))
  "$@" >>"$logfile" 2>&1 </dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    waited=$((waited + 1))
    if ((waited % 20 == 0)) && kill -0 "$pid" 2>/dev/null; then
      tail -n "+$start_line" "$logfile" | awk -v t="$waited" '
        /^Get:/ { g++ } /^Unpacking / { u++ } /^Setting up / { c++ }
        END { printf "tools/bazel:       %d s: %d downloaded, %d unpacked, %d set up\n", t, g, u, c }' >&2
    fi
  done
  wait "$pid" || status=$?
  return "$status"
}

# fail_logged logfile description prints the log's tail and exits.
fail_logged() {
  log "command failed: $2"
  log "last lines of $1:"
  tail -n 25 "$1" | sed 's/^/    /' >&2
  exit "$EXIT_ENV"
}

# assert_unmounted refuses to go on when something is mounted below dir in
# this namespace (rm -rf would walk into it).
assert_unmounted() {
  local dir=$1
  if awk -v d="$dir/" 'index($5 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    die "something is mounted below $dir; unmount it first (see: grep '$dir' /proc/self/mountinfo)"
  fi
}

need_root_tools() {
  local tool missing=()
  for tool in unshare pivot_root mount flock sha256sum setsid; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    die "offline mode needs ${missing[*]} on the host (Debian: apt-get install util-linux coreutils)"
  fi
}

# ensure_host_packages installs mmdebstrap, curl and unzip (for the Go SDK's
# zip) on the host when missing.
ensure_host_packages() {
  local logfile=$1 tool missing=()
  for tool in mmdebstrap curl unzip; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "offline mode needs ${missing[*]}, and this host has no apt-get to install them; install them, or install Bazel (bazelisk)"
  step "0/5" "apt-get install ${missing[*]} on the host"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y "${missing[@]}" >>"$logfile" 2>&1 </dev/null; then
    run_logged "$logfile" "${apt[@]}" update
    run_logged "$logfile" "${apt[@]}" install -y "${missing[@]}"
  fi
  step_done
}

# The process (and process group) of provisioning's background Go work.
go_tools_pid=

# stop_go_tools stops the background Go work and everything it started.
stop_go_tools() {
  [[ -n $go_tools_pid ]] || return 0
  kill -TERM -- "-$go_tools_pid" 2>/dev/null || true
  wait "$go_tools_pid" 2>/dev/null || true
  go_tools_pid=
}

# GAZELLE_TOOLS_BUILD is the BUILD file of gazelle's go_repository_tools
# repository (_GO_REPOSITORY_TOOLS_BUILD_FILE in gazelle's
# internal/go_repository_tools.bzl, for linux).
readonly GAZELLE_TOOLS_BUILD='package(default_visibility = ["//visibility:public"])

filegroup(
    name = "fetch_repo",
    srcs = ["bin/fetch_repo"],
)

filegroup(
    name = "gazelle",
    srcs = ["bin/gazelle"],
)

filegroup(
    name = "generate_repo_config",
    srcs = ["bin/generate_repo_config"],
)

exports_files(["ROOT"])
'

# builder_all_cores binary_bzl lets rules_go's builder compile on every core.
# rules_go's go_tool_binary runs `go build` of its builder with GOMAXPROCS=1
# (rules_go #3536: on darwin, many configurations build the builder at once).
# Here one or two configurations build it, first thing in every new output
# base, with nothing to run beside it: 33 s on one core of two. The binary is
# the same either way (-trimpath, an empty build ID; Go's output does not
# depend on its parallelism), so this changes when it is ready, not what it
# is. Fails when rules_go no longer has the line, so that a new rules_go is
# looked at again.
builder_all_cores() {
  local bzl=$1 line='                "GOMAXPROCS": "1",'
  if [[ $(grep -cxF -- "$line" "$bzl") != 1 ]]; then
    echo "$bzl: expected one line '$line' (go_tool_binary's environment); check the rules_go version" >&2
    return 1
  fi
  grep -vxF -- "$line" "$bzl" >"$bzl.tmp"
  mv "$bzl.tmp" "$bzl"
}

# build_go_tools out proxy sdk_zip sdk_sha256 is provisioning's Go work
# (`provision.sh go-tools`). It runs on the host, beside mmdebstrap, with
# the Go SDK that MODULE.bazel pins: the same
# golang.org/toolchain zip Bazel downloads, checked against its sha256. It
# writes into out:
#   rules_go, gazelle  those modules from the Go module proxy, for
#                      --override_module; gazelle with the vendor/ folder
#                      its tools build from;
#   gazelle_tools      gazelle's go_repository_tools repository, for
#                      --override_repository: fetch_repo, gazelle and
#                      generate_repo_config, built with the command and
#                      flags of gazelle's own repository rule;
#   distdir            the SDK zip, for --distdir.
# That rule otherwise compiles the three tools in every new output base
# before the first Go dependency can be fetched: about 45 s of a first build
# on 2 cores, with nothing else to run beside it.
build_go_tools() {
  local out=$1 proxy=$2 sdk_zip=$3 sdk_sha=$4
  local work=$out.work
  rm -rf "$out" "$work"
  mkdir -p "$out" "$work"
  set -x
  # Bounded: an SDK zip is about 75 MB.
  curl -fsSL --connect-timeout 10 --max-time 600 --max-filesize 500000000 --retry 2 \
    -o "$work/sdk.zip" "$proxy/golang.org/toolchain/@v/$sdk_zip"
  local sum
  sum=$(sha256sum "$work/sdk.zip" | cut -d' ' -f1)
  if [[ $sum != "$sdk_sha" ]]; then
    echo "$proxy/golang.org/toolchain/@v/$sdk_zip has sha256 $sum; MODULE.bazel pins $sdk_sha" >&2
    return 1
  fi
  unzip -q "$work/sdk.zip" -d "$work/sdk"
  local goroot=$work/sdk/golang.org/toolchain@${sdk_zip%.zip}
  local go=(env -i PATH=/usr/bin:/bin "HOME=$work" "GOROOT=$goroot" GOTOOLCHAIN=local GOENV=off
    GOTELEMETRY=off CGO_ENABLED=0 "GOCACHE=$work/gocache")
  local name
  for name in "${PASS_ENV[@]}"; do
    [[ $name != GOFLAGS && -n ${!name+x} ]] && go+=("$name=${!name}")
  done
  local rules_go=github.com/bazelbuild/rules_go@$RULES_GO_VERSION gazelle=github.com/bazelbuild/bazel-gazelle@$GAZELLE_VERSION
  local mod=("${go[@]}" "GOPATH=$work/gopath" "GOMODCACHE=$work/gomod" GOFLAGS=-modcacherw "$goroot/bin/go")
  (cd / && "${mod[@]}" mod download -json "$rules_go" "$gazelle" >/dev/null)
  cp -r "$work/gomod/$rules_go" "$out/rules_go"
  cp -r "$work/gomod/$gazelle" "$out/gazelle"
  chmod -R u+w "$out/rules_go" "$out/gazelle"
  # Module zips drop exec bits (rules_go runs e.g. binary_wrapper.sh).
  find "$out/rules_go" "$out/gazelle" -name '*.sh' -exec chmod +x {} +
  builder_all_cores "$out/rules_go/go/private/rules/binary.bzl"
  # gazelle builds its tools with GO111MODULE=off from vendor/, which module
  # zips leave out; -e skips testdata-only imports.
  (cd "$out/gazelle" && "${mod[@]}" mod vendor -e)
  local tools=$out/gazelle_tools
  mkdir -p "$tools/src/github.com/bazelbuild"
  ln -s "$out/gazelle" "$tools/src/github.com/bazelbuild/bazel-gazelle"
  "${go[@]}" GOMAXPROCS=1 "GOPATH=$tools" GOBIN= GO111MODULE=off GOROOT_FINAL=GOROOT GOFLAGS= "$goroot/bin/go" install \
    -ldflags "-w -s" -gcflags "all=-trimpath=$tools" -asmflags "all=-trimpath=$tools" \
    github.com/bazelbuild/bazel-gazelle/cmd/gazelle \
    github.com/bazelbuild/bazel-gazelle/cmd/fetch_repo \
    github.com/bazelbuild/bazel-gazelle/cmd/generate_repo_config
  rm -rf "$tools/src" "$tools/pkg"
  printf '%s' "$GAZELLE_TOOLS_BUILD" >"$tools/BUILD.bazel"
  : >"$tools/ROOT"
  : >"$tools/REPO.bazel"
  # Bazel's --distdir: its go_sdk repository finds the zip by name and sha256
  # instead of downloading it again.
  mkdir -p "$out/distdir"
  mv "$work/sdk.zip" "$out/distdir/$sdk_zip"
  rm -rf "$work"
}

provision() {
  local env_dir=$1 hash=$2
  local root=$env_dir/root stamps=$env_dir/stamps logfile=$env_dir/provision.log
  local mirror proxy n
  mkdir -p "$stamps" "$env_dir/output"
  : >>"$logfile"
  mirror=$(debian_mirror)
  proxy=$(go_proxy) || die "GOPROXY ($GOPROXY) has no http(s) proxy; offline mode fetches rules_go and gazelle from a Go module proxy"
  log "provisioning the offline Bazel environment $env_dir"
  log "  (a few minutes, once; Debian mirror $mirror, Go proxy $proxy; log: $logfile)"
  ensure_host_packages "$logfile"
  check_url "the Debian mirror" "$mirror/dists/$DEBIAN_SUITE/InRelease" \
    "Offline mode installs Bazel from Debian $DEBIAN_SUITE. Set CAPSLAYER_DEBIAN_MIRROR to a reachable Debian mirror, or install Bazel (bazelisk) and make https://bcr.bazel.build reachable."
  check_url "the Go module proxy" "$proxy/github.com/bazelbuild/rules_go/@v/$RULES_GO_VERSION.info" \
    "Offline mode fetches rules_go and gazelle from the Go module proxy. Set GOPROXY to a reachable proxy, or install Bazel (bazelisk) and make https://bcr.bazel.build reachable."

  # Go work on the host, beside steps 1 and 2; step 4 waits for it. Stopped,
  # with the go commands it started, when provisioning fails first. Steps 1
  # and 2 are the first run's critical path and use one core at a time
  # (dpkg), so the Go work gets the other one: one compile at a time
  # (GOMAXPROCS=1 in build_go_tools) at the lowest CPU priority. It still
  # ends before step 2 does. Measured with debootstrap on 2 cores,
  # 2026-12-07: it took 42 s alone, 89 s beside the Go work at equal
  # priority and on both cores, 59 s beside it like this.
  if [[ ! -e $stamps/rules ]]; then
    local sdk
    sdk=$(go_sdk_pin)
    log "  fetching rules_go and gazelle and building gazelle's tools on the host, beside steps 1-2 (log: $env_dir/go-tools.log)"
    # shellcheck disable=SC2086 # sdk is "<zip> <sha256>"
    setsid nice -n 19 bash "$offline_src/provision.sh" go-tools "$env_dir/go-tools" "$proxy" $sdk >"$env_dir/go-tools.log" 2>&1 </dev/null &
    go_tools_pid=$!
    trap stop_go_tools EXIT
  fi

  local env_words=()
  mapfile -t env_words < <(chroot_env)

  if [[ ! -e $stamps/bootstrap ]]; then
    step "1/5" "mmdebstrap --variant=minbase $DEBIAN_SUITE (about 30 s)"
    assert_unmounted "$root"
    rm -rf "$root"
    # mmdebstrap, not debootstrap: the same packages (Priority: required and
    # apt) with half the CPU time, as it downloads with apt and unpacks with
    # dpkg-deb instead of a shell loop (2026-12-07, 2 cores, alone: 24 s and
    # 24 CPU-s against 41 s and 47 CPU-s). mmdebstrap mounts /proc, /sys and
    # /dev in the target; a private namespace makes sure those mounts never
    # outlive it, even when interrupted. Its --aptopt and --dpkgopt hold from
    # the bootstrap on, and stay in the chroot's apt and dpkg configuration
    # (99mmdebstrap):
    #   - the mirror may be a frozen snapshot whose Release files have
    #     expired;
    #   - dpkg does not fsync each file: a chroot that is thrown away when
    #     provisioning fails gains nothing from it, and it was most of the
    #     unpack time.
    run_logged "$logfile" unshare --mount --propagation private -- \
      mmdebstrap --mode=root --variant=minbase \
      --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Retries "3"' \
      --dpkgopt=force-unsafe-io "$DEBIAN_SUITE" "$root" "$mirror"
    # From the packages on (the bootstrap's are in place: the JDK's
    # maintainer scripts write into /usr/share/man/man1): no documentation,
    # manual pages or translations, and no JDK jmods (355 MB, for jlink
    # only, which nothing here runs).
    printf '%s\n' path-exclude=/usr/share/doc/* path-include=/usr/share/doc/*/copyright \
      path-exclude=/usr/share/man/* path-exclude=/usr/share/info/* path-exclude=/usr/share/locale/* \
      path-exclude=/usr/lib/jvm/*/jmods/* \
      >"$root/etc/dpkg/dpkg.cfg.d/99rules-capslayer"
    # Never start services (nginx, ...) inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    # resolv.conf and hosts are bind-mounted from the host at each entry; make
    # sure they are plain files to mount over.
    for n in resolv.conf hosts; do
      rm -f "$root/etc/$n"
      : >"$root/etc/$n"
    done
    touch "$stamps/bootstrap"
    step_done
  fi

  if [[ ! -e $stamps/packages ]]; then
    local pkgs
    mapfile -t pkgs < <(tier_list core)
    step "2/5" "apt-get install the core tier: ${#pkgs[@]} packages of tools/offline/packages/core.txt, with their dependencies (1-3 min)"
    local ca_digest
    ca_digest=$(host_ca_digest)
    copy_certificates "$env_dir"
    run_logged "$logfile" enter_chroot "$env_dir" "" "${env_words[@]}" "${APT[@]}" update
    apt_install "$env_dir" "$logfile" "${pkgs[@]}"
    # The packages' own scripts have added the host's CAs (copy_certificates).
    printf '%s\n' "$ca_digest" >"$stamps/certificates"
    touch "$stamps/packages"
    step_done
  fi

  if ! certificates_current "$env_dir"; then
    step "3/5" "trusting the host's local CA certificates inside the chroot"
    sync_certificates "$env_dir" "$logfile"
    step_done
  fi

  if [[ ! -e $stamps/rules ]]; then
    step "4/5" "rules_go $RULES_GO_VERSION, gazelle $GAZELLE_VERSION and gazelle's tools (built beside steps 1-2)"
    if ! wait "$go_tools_pid"; then
      go_tools_pid=
      fail_logged "$env_dir/go-tools.log" "provision.sh go-tools (fetching rules_go and gazelle, building gazelle's tools)"
    fi
    go_tools_pid=
    trap - EXIT
    local d
    mkdir -p "$root$CHROOT_PREFIX"
    for d in rules_go gazelle gazelle_tools distdir; do
      rm -rf "${root:?}$CHROOT_PREFIX/$d"
      mv "$env_dir/go-tools/$d" "$root$CHROOT_PREFIX/$d"
    done
    rm -rf "$env_dir/go-tools"
    touch "$stamps/rules"
    step_done
  fi

  step "5/5" "installing stub modules and repositories and the offline bazelrc"
  rm -rf "$root$CHROOT_PREFIX/stubs" "$root$CHROOT_PREFIX/repos"
  mkdir -p "$root$CHROOT_PREFIX"
  cp -r "$offline_src/stubs" "$root$CHROOT_PREFIX/stubs"
  cp -r "$offline_src/repos" "$root$CHROOT_PREFIX/repos"
  local java_tools
  java_tools=$(cd "$root" && find usr/lib -maxdepth 3 -path '*/bazel/java_tools' -type d | head -n 1)
  [[ -n $java_tools ]] || die "Debian's java_tools (package bazel-java-tools) are missing from the chroot; is bazel-java-tools in tools/offline/packages/core.txt?"
  sed -e "s|@OUTPUT_USER_ROOT@|$env_dir/output|g" -e "s|@PREFIX@|$CHROOT_PREFIX|g" -e "s|@JAVA_TOOLS@|/$java_tools|g" \
    "$offline_src/bazelrc.in" >"$root/etc/bazel.bazelrc.tmp"
  mv -f "$root/etc/bazel.bazelrc.tmp" "$root/etc/bazel.bazelrc"
  # Debian's bazelrc turns on --sandbox_debug, which prints pages of sandbox
  # internals for every failing action and test; it is a flag for debugging
  # the sandbox, not a default. (Debian's file loads ours before its own
  # lines, so ours cannot turn it off.)
  # Its --host_javabase is deprecated (a warning on every command) and
  # replaced by the --*java_runtime_version flags of our bazelrc.
  sed -i -e 's|^build --sandbox_debug$|# & (disabled by rules_capslayer tools/bazel)|' \
    -e 's|^build --host_javabase=.*$|# & (replaced by rules_capslayer tools/bazel)|' "$root/etc/bazel/bazelrc"
  printf '%s\n' "$hash" >"$root$CHROOT_MARKER"
  step_done

  touch "$env_dir/ready"
  log "offline Bazel environment ready ($(du -sh "$env_dir" 2>/dev/null | cut -f1) in $env_dir)"
}

# host_ca_files lists the host's local CA certificates (Debian convention:
# /usr/local/share/ca-certificates/**/*.crt), relative to that folder.
readonly HOST_CA_DIR=/usr/local/share/ca-certificates
host_ca_files() {
  [[ -d $HOST_CA_DIR ]] || return 0
  (cd "$HOST_CA_DIR" && find . -type f -name '*.crt' | LC_ALL=C sort)
}
host_ca_digest() {
  local f
  while IFS= read -r f; do
    printf '%s %s\n' "$f" "$(sha256sum <"$HOST_CA_DIR/$f" | cut -d' ' -f1)"
  done < <(host_ca_files) | sha256sum | cut -d' ' -f1
}

# sync_certificates copies the host's local CAs into the chroot and rebuilds
# its trust stores: the PEM bundle (Go, curl) and Java's cacerts, which Bazel's
# own downloader uses. Networks that intercept TLS need their CA in both.
sync_certificates() {
  local env_dir=$1 logfile=$2 digest
  digest=$(host_ca_digest)
  copy_certificates "$env_dir"
  local env_words=()
  mapfile -t env_words < <(chroot_env)
  run_logged "$logfile" enter_chroot "$env_dir" "" "${env_words[@]}" update-ca-certificates --fresh
  printf '%s\n' "$digest" >"$env_dir/stamps/certificates"
}

# copy_certificates env_dir puts the host's local CAs where the chroot's
# update-ca-certificates reads them. Done before the packages are installed,
# the postinst scripts of ca-certificates and ca-certificates-java (a Java
# keytool run per store, slow) add them to both stores in the same pass.
copy_certificates() {
  local dest=$1/root/usr/local/share/ca-certificates/host f
  rm -rf "$dest"
  mkdir -p "$dest"
  while IFS= read -r f; do
    mkdir -p "$(dirname "$dest/$f")"
    cp "$HOST_CA_DIR/$f" "$dest/$f"
  done < <(host_ca_files)
}

certificates_current() {
  local env_dir=$1
  [[ -f $env_dir/stamps/certificates && $(<"$env_dir/stamps/certificates") == "$(host_ca_digest)" ]]
}

# collect_garbage removes the offline environments of other recipes that no
# tools/bazel run is using. Their Bazel servers are idle then (every client
# holds the environment's lock while it runs), so they are asked to exit
# first: each holds gigabytes of memory until its idle timeout otherwise.
collect_garbage() {
  local cache=$1 keep=$2 dir lock pidfile pid live i i2
  for dir in "$cache"/offline-*/; do
    dir=${dir%/}
    [[ -d $dir && $dir != "$keep" ]] || continue
    lock=$dir.lock
    exec 8>>"$lock"
    if ! flock -n -x 8; then
      exec 8>&-
      log "keeping $dir: a tools/bazel run is using it"
      continue
    fi
    live=()
    for pidfile in "$dir"/output/*/server/server.pid.txt; do
      [[ -f $pidfile ]] || continue
      pid=$(<"$pidfile")
      [[ $pid =~ ^[0-9]+$ ]] || continue
      # Only a Bazel server of that environment, not a recycled pid.
      if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--output_user_root=$dir/output"; then
        kill -TERM "$pid" 2>/dev/null && live+=("$pid")
      fi
    done
    for ((i = 0; i < 60 && ${#live[@]}; i++)); do
      sleep 0.5
      for i2 in "${!live[@]}"; do
        kill -0 "${live[i2]}" 2>/dev/null || unset "live[i2]"
      done
    done
    if ((${#live[@]})); then
      log "keeping $dir: its Bazel server (pid ${live[*]}) did not exit"
    elif awk -v d="$dir/" 'index($5 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      log "keeping $dir: something is mounted below it"
    else
      log "removing the unused offline environment $dir (in the background)"
      # Rename first: an interrupted removal must not leave a half-deleted
      # environment that still carries its ready stamp. A leftover
      # *.removing-* folder matches offline-* and is removed by the next run.
      # The removal itself runs in the background, like `bazel clean
      # --async`: the old environment's output bases took 80 s to remove
      # here (2026-12-07), in front of the command the user asked for. It
      # holds none of this run's locks (fds 8 and 9).
      if mv "$dir" "$dir.removing-$$"; then
        setsid rm -rf -- "$dir.removing-$$" </dev/null >/dev/null 2>&1 8>&- 9>&- &
      fi
      rm -f "$lock"
    fi
    exec 8>&-
  done
}

# wanted_tiers mode args... prints the extra tiers (beyond core) that a run
# needs: e2e for Bazel's `test` and `coverage` (tests run engines and tools
# that building never does) and for the shell, plus those named in
# CAPSLAYER_BAZEL_TIERS (comma- or space-separated). `build` and `run` get
# the core only, so the first `run //examples:demo` installs no engine.
wanted_tiers() {
  local mode=$1 command
  shift
  if [[ $mode == shell ]]; then
    echo e2e
  else
    command=$(wanted_command "$@")
    case $command in
      test | coverage) echo e2e ;;
    esac
  fi
  local knob=${CAPSLAYER_BAZEL_TIERS:-} t
  for t in ${knob//,/ }; do
    printf '%s\n' "$t"
  done
}

# check_tiers_knob fails when CAPSLAYER_BAZEL_TIERS names a tier that does
# not exist.
check_tiers_knob() {
  local knob=${CAPSLAYER_BAZEL_TIERS:-} t known
  for t in ${knob//,/ }; do
    for known in "${EXTRA_TIERS[@]}"; do
      [[ $t == "$known" ]] && continue 2
    done
    die "CAPSLAYER_BAZEL_TIERS: unknown tier '$t' (the tiers beyond core are: ${EXTRA_TIERS[*]})"
  done
}

# tier_current env_dir tier is true when the tier's packages, as its file
# lists them now, are installed in env_dir.
tier_current() {
  [[ -f $1/stamps/tier-$2 && $(head -n 1 "$1/stamps/tier-$2") == "$(tier_hash "$2")" ]]
}

# provision_tier env_dir tier mode args... installs an extra tier into the
# chroot of a ready environment, in place: Bazel servers started before see
# the new files at once (their root is the same folder). When an older list
# of the same tier was installed, packages it no longer names are removed
# (unless another tier or the core names them). Callers hold the lock
# exclusively.
provision_tier() {
  local env_dir=$1 tier=$2 mode=$3
  shift 3
  local logfile=$env_dir/provision.log stamp=$env_dir/stamps/tier-$tier started=$SECONDS
  local pkgs=() why
  mapfile -t pkgs < <(tier_list "$tier")
  local knob=${CAPSLAYER_BAZEL_TIERS:-}
  if [[ " ${knob//,/ } " == *" $tier "* ]]; then
    why="CAPSLAYER_BAZEL_TIERS"
  elif [[ $mode == shell ]]; then
    why="the offline shell"
  else
    why="bazel $(wanted_command "$@")"
  fi
  log "$why needs the $tier tier of the offline environment: $(tier_blurb "$tier")"
  log "  installing ${#pkgs[@]} packages of tools/offline/packages/$tier.txt into $env_dir, once (about 1-2 min; log: $logfile)"
  if [[ -f $stamp ]]; then
    # An older list: let apt remove what only it named.
    local old=() other=() p t
    mapfile -t old < <(tail -n +2 "$stamp")
    mapfile -t other < <(for t in "${TIERS[@]}"; do tier_list "$t"; done | LC_ALL=C sort -u)
    local drop=()
    for p in "${old[@]}"; do
      printf '%s\n' "${other[@]}" | grep -qxF -- "$p" || drop+=("$p")
    done
    if ((${#drop[@]})); then
      log "  the $tier tier changed; removing ${drop[*]}"
      local env_words=()
      mapfile -t env_words < <(chroot_env)
      run_logged "$logfile" enter_chroot "$env_dir" "" "${env_words[@]}" apt-mark auto "${drop[@]}"
    fi
  fi
  apt_install "$env_dir" "$logfile" "${pkgs[@]}"
  if [[ -f $stamp ]]; then
    local env_words=()
    mapfile -t env_words < <(chroot_env)
    run_logged "$logfile" enter_chroot "$env_dir" "" "${env_words[@]}" "${APT[@]}" autoremove --purge -y
  fi
  { tier_hash "$tier"; printf '%s\n' "${pkgs[@]}"; } >"$stamp.tmp"
  mv -f "$stamp.tmp" "$stamp"
  log "  $tier tier ready in $((SECONDS - started)) s"
}

# wanted_command args... prints Bazel's command in a Bazel command line: its
# first argument that is not a startup option.
wanted_command() {
  local arg
  for arg in "$@"; do
    if [[ $arg != -* ]]; then
      printf '%s\n' "$arg"
      return
    fi
  done
}

# run_offline mode args... runs Bazel (mode "offline") or bash (mode "shell")
# with args inside the offline environment, provisioning it first if needed.
run_offline() {
  local mode=$1
  shift
  if [[ $(id -u) != 0 ]]; then
    die "no usable Bazel: either no Bazel/bazelisk is installed or https://bcr.bazel.build is unreachable, and the offline fallback (a Debian chroot with Debian's Bazel) needs root.
  Install bazelisk (https://github.com/bazelbuild/bazelisk) with network access to the Bazel Central Registry, or run tools/bazel as root."
  fi
  need_root_tools
  local cache hash env_dir lock
  cache=$(cache_root)
  hash=$(recipe_hash)
  env_dir=$cache/offline-$hash
  lock=$env_dir.lock

  # Shared lock while running Bazel, exclusive while provisioning. flock
  # converts by dropping the lock first, so two runs that both upgrade
  # cannot deadlock. fd 9 is not passed on to Bazel (the server would keep
  # the lock forever).
  exec 9>>"$lock"
  if ! flock -n -s 9; then
    log "waiting for another tools/bazel to finish provisioning $env_dir"
    flock -s 9
  fi
  local tiers=() tier missing_tiers=()
  check_tiers_knob
  mapfile -t tiers < <(wanted_tiers "$mode" "$@")
  # In the order of EXTRA_TIERS, each once.
  for tier in "${EXTRA_TIERS[@]}"; do
    printf '%s\n' "${tiers[@]}" | grep -qxF -- "$tier" || continue
    tier_current "$env_dir" "$tier" || missing_tiers+=("$tier")
  done
  if [[ ! -e $env_dir/ready ]] || ! certificates_current "$env_dir" || ((${#missing_tiers[@]})); then
    if ! flock -n -x 9; then
      log "waiting for other tools/bazel runs using $env_dir to finish"
      flock -x 9
    fi
    if [[ ! -e $env_dir/ready ]]; then
      local started=$SECONDS
      provision "$env_dir" "$hash"
      log "provisioned in $((SECONDS - started)) s"
      collect_garbage "$cache" "$env_dir"
    elif ! certificates_current "$env_dir"; then
      log "the host's CA certificates changed; updating the chroot's trust stores"
      sync_certificates "$env_dir" "$env_dir/provision.log"
    fi
    for tier in "${missing_tiers[@]}"; do
      tier_current "$env_dir" "$tier" || provision_tier "$env_dir" "$tier" "$mode" "$@"
    done
    flock -s 9
  fi

  # Mounted at the same paths: this checkout, the workspace Bazel is run in
  # when it lies elsewhere (another module, e.g. a copy of e2e/consumer), and
  # CAPSLAYER_BAZEL_MOUNTS. Parents first, so a nested folder stays visible.
  local env_words=() cwd=$PWD mounts=() d
  mapfile -t env_words < <(chroot_env)
  mounts=("$ws_root")
  case $cwd/ in
    "$ws_root"/*) ;;
    *) mounts+=("$(workspace_of "$cwd")") ;;
  esac
  local extra=()
  IFS=: read -r -a extra <<<"${CAPSLAYER_BAZEL_MOUNTS:-}"
  if [[ -n ${CAPSLAYER_KUBE_BIN_DIR:-} && -d $CAPSLAYER_KUBE_BIN_DIR ]]; then
    extra+=("$CAPSLAYER_KUBE_BIN_DIR")
  fi
  for d in "${extra[@]}"; do
    [[ -n $d ]] || continue
    [[ -d $d ]] || die "CAPSLAYER_BAZEL_MOUNTS: $d is not a folder"
    [[ $d != *:* ]] || die "CAPSLAYER_BAZEL_MOUNTS: $d contains ':'"
    mounts+=("$(cd "$d" && pwd -P)")
  done
  local mount_list
  mount_list=$(printf '%s\n' "${mounts[@]}" | awk '{ print length($0) "\t" $0 }' | LC_ALL=C sort -t "$(printf '\t')" -k1,1n -k2 | uniq | cut -f2- | paste -sd:)
  local status=0 program=/usr/bin/bazel
  if [[ $mode == shell ]]; then
    program=/bin/bash
    (($#)) || set -- -i
  fi
  # shellcheck disable=SC2016 # expanded by the shell in the chroot
  enter_chroot "$env_dir" "$mount_list" "${env_words[@]}" \
    /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" "$program" "$@" 9>&- || status=$?
  exit "$status"
}


# workspace_of prints the Bazel workspace root that contains dir (the nearest
# folder with MODULE.bazel, REPO.bazel or WORKSPACE[.bazel]), else dir.
workspace_of() {
  local d=$1
  while [[ $d != / ]]; do
    if [[ -f $d/MODULE.bazel || -f $d/REPO.bazel || -f $d/WORKSPACE || -f $d/WORKSPACE.bazel ]]; then
      printf '%s\n' "$d"
      return
    fi
    d=$(dirname "$d")
  done
  printf '%s\n' "$1"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    run) run_offline offline "$@" ;;
    shell) run_offline shell "$@" ;;
    env-dir) printf '%s/offline-%s\n' "$(cache_root)" "$(recipe_hash)" ;;
    # Internal: provisioning's background Go work (build_go_tools).
    go-tools) build_go_tools "$@" ;;
    *) die "usage: tools/offline/provision.sh run|shell|env-dir [ARGS...]" ;;
  esac
}

# Sourcing this file (tools/offline/launcher_test.sh does) only defines the
# functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
