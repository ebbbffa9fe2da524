#!/usr/bin/env bash
# End-to-end test of the rules with a remote cache: a private nginx on
# loopback (server.sh) is the Bazel HTTP cache.
#
#   tools/remote-cache/e2e.sh
#
#   1. copies the working tree to a scratch workspace with its own output
#      base (the main workspace's output base is never touched);
#   2. cold build of TARGETS with --remote_cache: everything runs locally
#      and is uploaded;
#   3. bazel clean --expunge: the output base is gone (local action cache,
#      outputs, Bazel server);
#   4. the same build with --remote_download_outputs=all, and asserts that
#      * Bazel's summary line counts only "remote cache hit" and "internal"
#        processes (no local, sandboxed or worker spawn),
#      * in the execution log EVERY spawn was a remote cache hit, the
#        CapsLayer, CapsImage, GoCompilePkg and GoLink ones among them,
#      * every output has the same digest as in the cold build (execution
#        logs) and every file under bazel-bin is byte-identical (sha256);
#   5. bazel clean (not --expunge) and the same build again: all hits, and
#      the time the action cache alone saves;
#   6. stops nginx and prints the cache's request counts and size.
#
# Environment: BAZEL (default tools/bazel), TARGETS (default: //examples/...),
# KEEP=1 keeps the scratch directory (and prints it),
# CAPSLAYER_REMOTE_CACHE_WORK sets it (default mktemp -d under /var/tmp),
# BUILD_TIMEOUT seconds per Bazel build (default 2400).
# Takes about 10 min on a busy 2-core machine: cold build ~5.5 min, clean
# --expunge ~1 min, rebuild after it ~3 min (mostly repository rules and
# analysis, which no action cache covers; the actions' critical path is
# ~10 s), rebuild after a plain `bazel clean` ~15 s.
# Exit status: 0 pass, 1 an assertion failed, 2 the setup failed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
server=$repo/tools/remote-cache/server.sh
execlog=$repo/tools/repro/execlog.py
bazel_cmd=${BAZEL:-tools/bazel}
read -ra targets <<<"${TARGETS:-//examples/...}"
timeout_s=${BUILD_TIMEOUT:-2400}

log() { printf 'remote-cache e2e: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 2
}
command -v python3 >/dev/null || die "python3 is needed to read Bazel's execution logs"

work=${CAPSLAYER_REMOTE_CACHE_WORK:-$(mktemp -d /var/tmp/capslayer-remote-cache.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
chmod 755 "$work"
ws=$work/ws
logs=$ws/.bazel-cache/logs

bz() { (cd "$ws" && "$ws/$bazel_cmd" --output_base="$ws/.bazel-cache/ob" "$@"); }

cleanup() {
  "$server" stop "$work/cache" || true
  if [[ -d $ws ]]; then bz shutdown >/dev/null 2>&1 || true; fi
  if [[ ${KEEP:-0} == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# The working tree (tracked and untracked, not ignored, not deleted files):
# what a clone of the same commit plus the same local changes holds.
mkdir -p "$ws"
(cd "$repo" && git ls-files -co --exclude-standard -z |
  while IFS= read -r -d '' f; do
    if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
  done | tar --null -cf - -T -) | tar -xf - -C "$ws"

mkdir -p "$logs"
url=$("$server" start "$work/cache") || die "could not start the cache server"
log "cache at $url (nginx, data in $work/cache/data)"
# Besides the default outputs: the layers' descriptors, the images' tarballs,
# digests and requirements (the output groups of caps_layer and caps_image).
flags=(--remote_cache="$url" "--output_groups=+descriptor,+tarball,+digest,+requirements,+run_flags")

# build NAME FLAGS...: a timed build, its output in $work/NAME.log, its
# execution log in $logs/NAME.json (inside the workspace: an offline,
# chrooted Bazel sees only the workspace and its output tree); prints
# Bazel's process summary line.
build() {
  local name=$1 start=$SECONDS status=0
  shift
  timeout "$timeout_s" bash -c "cd '$ws' && '$ws/$bazel_cmd' --output_base='$ws/.bazel-cache/ob' \"\$@\"" bazel \
    build "${flags[@]}" --execution_log_json_file="$logs/$name.json" "$@" "${targets[@]}" \
    >"$work/$name.log" 2>&1 || status=$?
  if ((status)); then
    tail -n 30 "$work/$name.log" >&2
    die "the $name build failed (exit $status); log above"
  fi
  log "$name build: $((SECONDS - start)) s wall; $(grep -E '^INFO: Elapsed time' "$work/$name.log" | tail -n 1 | sed 's/^INFO: //')"
  grep -E '^INFO: [0-9]+ process(es)?: ' "$work/$name.log" | tail -n 1 | sed 's/^INFO: //'
}

# bin_sums NAME: sha256 of every regular file under bazel-bin, sorted, in
# $work/NAME.sums (runfiles manifests hold absolute paths and are left out).
bin_sums() {
  local bin
  bin=$(bz info bazel-bin 2>/dev/null)
  (cd "$bin" && find . -type f ! -name '*.runfiles_manifest' ! -name MANIFEST ! -path '*.runfiles/*' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum) >"$work/$1.sums"
}

failures=0
check() { # check DESCRIPTION COMMAND...
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    log "PASS $what: $(tail -n 1 <<<"$out")"
  else
    log "FAIL $what:"
    sed 's/^/    /' <<<"$out" >&2
    failures=$((failures + 1))
  fi
}

log "1/4 cold build, uploading to the cache: ${targets[*]}"
cold_summary=$(build cold)
log "    $cold_summary"
bin_sums cold
cold_stats=$("$server" stats "$work/cache")

log "2/4 bazel clean --expunge"
start=$SECONDS
bz clean --expunge >"$work/expunge.log" 2>&1 || { cat "$work/expunge.log" >&2; die "bazel clean --expunge failed"; }
[[ ! -e $ws/.bazel-cache/ob/execroot ]] || die "the output base still has an execroot after clean --expunge"
log "    $((SECONDS - start)) s"
: >"$work/cache/logs/access.log"

log "3/4 rebuild from the cache, --remote_download_outputs=all"
warm_summary=$(build warm --remote_download_outputs=all)
log "    $warm_summary"
bin_sums warm
warm_stats=$("$server" stats "$work/cache")

python3 "$execlog" summary "$logs/warm.json" | sed 's/^/    /' >&2

# "N processes: X remote cache hit, Y internal." and nothing else.
summary_only_hits() {
  local s=$1
  echo "$s"
  [[ $s =~ ^[0-9]+\ processes?:\ [0-9]+\ remote\ cache\ hit(,\ [0-9]+\ internal)?\.$ ]]
}
check "summary line has only remote cache hits and internal processes" summary_only_hits "$warm_summary"
check "every spawn in the execution log was a remote cache hit" \
  python3 "$execlog" all-hits "$logs/warm.json" --require CapsLayer,CapsImage,GoCompilePkg,GoLink
check "every output digest equals the cold build's (execution logs)" \
  python3 "$execlog" same-outputs "$logs/cold.json" "$logs/warm.json"
same_files() {
  diff -u "$work/cold.sums" "$work/warm.sums" && echo "$(wc -l <"$work/cold.sums") files under bazel-bin byte-identical"
}
check "every file under bazel-bin is byte-identical to the cold build" same_files

# What the cache saves on actions alone: after an expunge most of the time
# goes to repository rules (module downloads, gazelle's tools) and analysis,
# which no action cache covers. `bazel clean` keeps them and the server.
log "4/4 bazel clean (server, repositories and analysis kept), rebuild from the cache"
bz clean >"$work/clean.log" 2>&1 || { cat "$work/clean.log" >&2; die "bazel clean failed"; }
: >"$work/cache/logs/access.log"
clean_summary=$(build clean-warm)
log "    $clean_summary"
check "after bazel clean too, every spawn was a remote cache hit" \
  python3 "$execlog" all-hits "$logs/clean-warm.json" --require CapsLayer,CapsImage,GoCompilePkg,GoLink

log "cache requests during the cold build (method, area, status, count):"
sed 's/^/    /' <<<"$cold_stats" >&2
log "cache requests during the rebuild:"
sed 's/^/    /' <<<"$warm_stats" >&2

if ((failures)); then
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed"
