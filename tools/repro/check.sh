#!/usr/bin/env bash
# Reproducibility across environments: builds the same layers and images
# twice, under conditions that differ in everything that must not matter,
# and compares every output byte for byte. On a difference it says which
# file, tar entry and header field (or JSON line) differ (tools/repro/explain).
#
#   tools/repro/check.sh cli      the capslayer CLI alone, no Bazel (~10 s)
#   tools/repro/check.sh bazel    Bazel: two workspace copies, two output
#                                 bases, two cold builds, incremental builds,
#                                 then side B rebuilt from the remote cache
#                                 side A filled (~10 min on 2 cores)
#   tools/repro/check.sh          both
#   tools/repro/check.sh selftest the cli check must catch a planted
#                                 difference (SOURCE_DATE_EPOCH on one side),
#                                 execlog.py's checks must fail on bad logs
#
# What differs between side A and side B:
#   cli:   workspace path (B's has spaces and is deeper); the capslayer
#          binary (A: go build -trimpath in the checkout, B: plain go build
#          in a copy of the sources at B's path); umask 022 / 077; TZ UTC /
#          Pacific/Chatham; LANG/LC_ALL C / tr_TR.UTF-8; TMPDIR; user root /
#          nobody (65534; only when run as root, else both are the caller);
#          the inputs' names, modes, owners and mtimes; the working directory.
#   bazel: workspace path (two copies of the working tree, B's deeper);
#          output base and Bazel server; umask 022 / 077 of the Bazel
#          client and server; TZ and LANG of the client; spawn strategy
#          (A: --spawn_strategy=sandboxed, B: --spawn_strategy=local, i.e.
#          in the execroot without a sandbox).
#          The user stays root: the offline Bazel (tools/bazel) needs root,
#          and an online Bazel run by another user is covered by the cli
#          check plus the output base change.
#          Compared: every default output and descriptor of the targets
#          (layers, descriptors, the image, the Go binaries) byte for byte,
#          and the digest of every spawn output in both execution logs.
#   Then, on side A:
#     hermetic:   no workspace path, output base, execroot or host name in
#                 any output (compressed ones decompressed); the CapsLayer
#                 action runs the toolchain's capslayer (no host program),
#                 with an empty environment and no absolute host path in its
#                 arguments, inputs or outputs; side B's CapsLayer actions
#                 ran unsandboxed ("local"), side A's sandboxed without
#                 network where the sandbox supports it (linux-sandbox).
#     efficiency: a no-op rebuild runs no spawn; a new test in
#                 examples/server is compiled and linked but runs no
#                 CapsLayer; a comment in
#                 examples/hello recompiles it but relinks nothing and runs
#                 no CapsLayer; a code change there does run CapsLayer (the
#                 control). All read from --execution_log_json_file.
#   Remote cache: side A's builds upload to a private nginx on loopback
#   (tools/remote-cache/server.sh, the HTTP cache of docs/remote-cache.md).
#   Then side B, in its other path and environment, runs bazel clean
#   --expunge and rebuilds with --remote_download_outputs=all:
#     * Bazel's summary line counts only "remote cache hit" and "internal"
#       processes (no local, sandboxed or worker spawn);
#     * in the execution log every spawn was a remote cache hit, the
#       CapsLayer, CapsImage, GoCompilePkg and GoLink ones among them;
#     * every output digest equals side A's cold build's (execution logs)
#       and every file under bazel-bin is byte-identical to side A's;
#   then bazel clean (not --expunge) and the same build: all hits again.
#   So a cache filled from one checkout serves another, whatever its path.
#
# Environment: BAZEL (default tools/bazel), TARGETS for the bazel check
# (default: //examples/...), BUILD_TIMEOUT seconds per Bazel build of the
# cache phase (default 2400), KEEP=1 keeps the scratch
# directory, CAPSLAYER_REPRO_WORK sets it (default: mktemp -d under
# /var/tmp; the Bazel copies must be on a path the offline chroot can
# bind-mount, which any host directory is).
# Exit status: 0 identical, 1 a difference or failed check, 2 bad usage.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
execlog=$repo/tools/repro/execlog.py
server=$repo/tools/remote-cache/server.sh

log() { printf 'repro: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 2
}

mode=${1:-all}
case $mode in
  cli | bazel | all | selftest) ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown check '$mode'; use cli, bazel, selftest or nothing (cli and bazel)" ;;
esac
command -v python3 >/dev/null || die "python3 is needed to read Bazel's execution logs (apt-get install python3)"

work=${CAPSLAYER_REPRO_WORK:-}
if [[ -z $work ]]; then
  work=$(mktemp -d /var/tmp/capslayer-repro.XXXXXX)
fi
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
chmod 755 "$work"
cleanup_actions=()
cleanup() {
  local a
  for a in "${cleanup_actions[@]}"; do eval "$a" || true; done
  if [[ ${KEEP:-0} == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# The differ that explains a difference, built once (tools/repro/explain).
explain=$work/explain
(cd "$repo" && CGO_ENABLED=0 go build -o "$explain" ./tools/repro/explain) || die "cannot build tools/repro/explain"

failures=0
# Extra environment for side B of the cli check (selftest only).
cli_b_extra_env=()

# compare A B NAME: byte-for-byte comparison of two output trees, explained.
compare() {
  local a=$1 b=$2 name=$3 n
  n=$(find "$a" -type f | wc -l)
  if ((n == 0)); then
    log "FAIL $name: no outputs in $a"
    failures=$((failures + 1))
    return
  fi
  if "$explain" "$a" "$b"; then
    log "PASS $name: $n files byte-identical"
    (cd "$a" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sed 's/^/    /' >&2
  else
    log "FAIL $name: the outputs differ (explained above)"
    failures=$((failures + 1))
  fi
}

# ---------------------------------------------------------------------------
# CLI: capslayer layer / image / inspect / requirements, no Bazel.

# cli_run DIR CAPSLAYER PREFIX COMMAND...: runs the fixture's capslayer
# commands with COMMAND (env -i ...) in the current directory, naming every
# file as PREFIX + a path relative to DIR (PREFIX empty: relative paths, run
# from DIR; PREFIX "DIR/": absolute paths, run from anywhere). The outputs go
# to DIR/out.
cli_run() {
  local dir=$1 bin=$2 prefix=$3
  shift 3
  # The outputs a user gets from the commands in the docs: the layers of
  # examples/hello and examples/multi, an image and an index around them,
  # and what inspect and requirements print about them.
  cat >"$dir/run.sh" <<'EOF'
set -eu
cl=$1 p=$2
mkdir -p "${p}out"
"$cl" layer --binary "${p}in/hello.bin" --path /app/hello --caps cap_net_bind_service=ep \
  --output "${p}out/hello_layer.tar" --descriptor "${p}out/hello_layer.descriptor.json"
"$cl" layer --binary "${p}in/hello.bin" --path /app/server --caps cap_net_bind_service=p \
  --file "/usr/local/bin/probe=${p}in/hello.bin:cap_net_raw=ep" --file "/etc/server/config.json=${p}in/config.json" \
  --mode 0555 --owner 65532:65532 --compression gzip \
  --output "${p}out/server_layer.tar.gz" --descriptor "${p}out/server_layer.descriptor.json"
"$cl" layer --binary "${p}in/hello.bin" --path /app/hello --caps cap_bpf,cap_perfmon=p --rootid 100000 \
  --output "${p}out/hello_zstd.tar.zst" --descriptor "${p}out/hello_zstd.descriptor.json"
"$cl" image --layer "${p}out/hello_layer.tar" --layer "${p}out/server_layer.tar.gz" --entrypoint /app/server \
  --user 65532:65532 --env PATH=/usr/local/bin:/usr/bin --expose 80/tcp --label org.example=repro \
  --output "${p}out/image" --tarball "${p}out/image.tar" --tag example.com/repro:v1 >"${p}out/image.digest"
"$cl" image --layer "${p}out/hello_zstd.tar.zst" --platform linux/arm64 --entrypoint /app/hello \
  --output "${p}out/image-arm64" >"${p}out/image-arm64.digest"
"$cl" image index --output "${p}out/index" --tag example.com/repro:v1 "${p}out/image" "${p}out/image-arm64" >"${p}out/index.digest"
# The reports name their input as given: give the same relative one.
cd "${p:-.}"
"$cl" inspect --json out/image >out/inspect.json
"$cl" inspect out/index >out/inspect.txt
"$cl" requirements --json out/image >out/requirements.json
EOF
  chmod 644 "$dir/run.sh"
  "$@" /bin/sh "$dir/run.sh" "$bin" "$prefix"
}

# existing_files PATHSPEC...: the working tree's files (tracked and untracked,
# not ignored, not deleted), NUL-separated: what a clone of the same commit
# plus the same local changes holds.
existing_files() {
  (cd "$repo" && git ls-files -co --exclude-standard -z -- "$@" |
    while IFS= read -r -d '' f; do
      if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi
    done)
}

check_cli() {
  log "== cli: capslayer alone, two environments"
  local base=$work/cli
  rm -rf "$base"
  mkdir -p "$base"
  local a=$base/a b="$base/b/a deeper/work space"
  mkdir -p "$a/in" "$b/in"

  # The fixture binary: the example program, built once (the layer takes
  # it as opaque bytes; only capslayer's own behaviour is under test).
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$base/hello" ./examples/hello)
  printf '{"listen": ":80"}\n' >"$base/config.json"

  # Side A's capslayer: -trimpath from the checkout. Side B's: a plain
  # build from a copy of the sources at B's path, so paths baked into the
  # binary differ.
  log "building capslayer twice (A: -trimpath in $repo; B: plain, in a copy under $b)"
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$base/capslayer-a" ./capslayer)
  mkdir -p "$b/src"
  existing_files go.mod go.sum capslayer | (cd "$repo" && tar --null -cf - -T -) | tar -xf - -C "$b/src"
  (cd "$b/src" && CGO_ENABLED=0 go build -o "$b/capslayer-b" ./capslayer)

  # Inputs: same bytes; different modes, owners (below) and mtimes.
  cp "$base/hello" "$a/in/hello.bin"
  cp "$base/config.json" "$a/in/config.json"
  chmod 0700 "$a/in/hello.bin"
  chmod 0600 "$a/in/config.json"
  touch -d '2001-02-03 04:05:06' "$a/in/hello.bin" "$a/in/config.json"
  cp "$base/hello" "$b/in/hello.bin"
  cp "$base/config.json" "$b/in/config.json"
  chmod 0755 "$b/in/hello.bin"
  chmod 0644 "$b/in/config.json"
  touch "$b/in/hello.bin" "$b/in/config.json"

  local as_b=()
  if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
    chown -R 65534:65534 "$base/b"
    chmod 755 "$base" "$base/b"
    as_b=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    log "side B runs as uid 65534 (nobody)"
  else
    log "side B runs as $(id -un): not root, so the user cannot change"
  fi

  # A: root, umask 022, UTC, C locale. B: nobody, umask 077, UTC+12:45/13:45,
  # Turkish locale (its dotless i breaks naive case mapping), its own TMPDIR.
  mkdir -p "$a/tmp" "$b/tmp"
  [[ ${#as_b[@]} -eq 0 ]] || chown 65534:65534 "$b/tmp"
  # A names its files relative to its directory, B by absolute paths from
  # another working directory.
  (umask 022 && cd "$a" && cli_run "$a" "$base/capslayer-a" "" \
    env -i PATH=/usr/bin:/bin HOME=/root TZ=UTC LANG=C LC_ALL=C TMPDIR="$a/tmp")
  (umask 077 && cd "$b/in" && cli_run "$b" "$b/capslayer-b" "$b/" \
    "${as_b[@]}" env -i PATH=/bin:/usr/bin HOME=/nonexistent TZ=Pacific/Chatham \
    LANG=tr_TR.UTF-8 LC_ALL=tr_TR.UTF-8 TMPDIR="$b/tmp" ${cli_b_extra_env[@]+"${cli_b_extra_env[@]}"})

  # The outputs must say what they should, not just agree: a capability is
  # there.
  grep -q '"cap_net_bind_service=ep"' "$a/out/inspect.json" ||
    { log "FAIL cli: inspect.json lists no cap_net_bind_service=ep"; failures=$((failures + 1)); }
  compare "$a/out" "$b/out" "cli"
}

# ---------------------------------------------------------------------------
# Bazel.

bazel_cmd=${BAZEL:-tools/bazel}
# Besides the default outputs: the layers' descriptors, the images' tarballs,
# digests and requirements (the output groups of caps_layer and caps_image).
output_groups=+descriptor,+tarball,+digest,+requirements,+run_flags

# copy_tree DEST: the working tree (tracked and untracked files, not the
# ignored ones, not bazel-* links) at DEST: what a second clone of the same
# commit plus the same local changes would hold.
copy_tree() {
  local dest=$1
  mkdir -p "$dest"
  existing_files | (cd "$repo" && tar --null -cf - -T -) | tar -xf - -C "$dest"
}

# bz SIDE_DIR ARGS...: runs Bazel in a workspace copy with its own output base.
bz() {
  local ws=$1
  shift
  (cd "$ws" && "$ws/$bazel_cmd" --output_base="$ws/.bazel-cache/ob" "$@")
}

bazel_targets() {
  local t
  read -ra t <<<"${TARGETS:-//examples/...}"
  printf '%s\n' "${t[@]}"
}

# collect WS OUT: copies the outputs of the targets (default outputs plus
# the layers' descriptors and the images' tarballs, digests and requirements)
# from WS's execroot to OUT, keyed by path; directories (OCI layouts) whole.
collect() {
  local ws=$1 out=$2 execroot f
  execroot=$(bz "$ws" info execution_root 2>/dev/null)
  mapfile -t targets < <(bazel_targets)
  local expr
  # One query expression: the patterns joined by " + ".
  expr=$(printf '%s + ' "${targets[@]}")
  if ! bz "$ws" cquery --output=files --output_groups=default,descriptor,tarball,digest,requirements,run_flags "${expr% + }" >"$out.files.unsorted" 2>"$out.cquery.log"; then
    cat "$out.cquery.log" >&2
    log "FAIL: cquery of the outputs failed in $ws"
    failures=$((failures + 1))
  fi
  LC_ALL=C sort "$out.files.unsorted" >"$out.files"
  mkdir -p "$out"
  while IFS= read -r f; do
    [[ -e $execroot/$f ]] || continue
    mkdir -p "$out/$(dirname "$f")"
    cp -R "$execroot/$f" "$out/$f"
  done <"$out.files"
}

check_bazel() {
  log "== bazel: two workspace copies, two output bases, cold builds"
  local base=$work/bazel
  rm -rf "$base"
  local a=$base/a/ws b=$base/b/some/deeper/path/ws
  copy_tree "$a"
  copy_tree "$b"
  mkdir -p "$a/.bazel-cache" "$b/.bazel-cache"
  mapfile -t targets < <(bazel_targets)
  cleanup_actions+=("bz '$a' shutdown >/dev/null 2>&1" "bz '$b' shutdown >/dev/null 2>&1")
  # Execution logs go inside each workspace: an offline (chrooted) Bazel
  # sees only the workspace and its output tree.
  local alog=$a/.bazel-cache/exec.json blog=$b/.bazel-cache/exec.json

  # The remote cache side A fills and side B is rebuilt from (cache_phase).
  local url
  cleanup_actions+=("'$server' stop '$base/cache'")
  url=$("$server" start "$base/cache") || die "could not start the remote cache server (tools/remote-cache/server.sh)"
  log "remote cache at $url (nginx, data in $base/cache/data)"

  local start=$SECONDS
  # Side A's actions run sandboxed and without network where the sandbox can
  # cut it (linux-sandbox can; processwrapper-sandbox ignores the flag).
  # Everything side A builds is uploaded to the cache.
  a_flags=(--spawn_strategy=sandboxed --sandbox_default_allow_network=false "--output_groups=$output_groups"
    --remote_cache="$url")
  # Side B: another time zone and locale (its dotless i breaks naive case
  # mapping), its actions unsandboxed in the execroot. Its cold build and its
  # rebuilds from the cache (cache_phase) use these, with umask 077.
  b_env=(env TZ=Pacific/Chatham LANG=tr_TR.UTF-8 LC_ALL=tr_TR.UTF-8)
  b_flags=(--spawn_strategy=local "--output_groups=$output_groups")
  log "side A: umask 022, TZ=UTC LANG=C, ${a_flags[*]}, in $a"
  # env: the locale goes to Bazel, not to this shell (which would warn
  # about a locale that is not installed).
  (umask 022 && cd "$a" && env TZ=UTC LANG=C LC_ALL=C "$a/$bazel_cmd" --output_base="$a/.bazel-cache/ob" \
    build "${a_flags[@]}" --execution_log_json_file="$alog" "${targets[@]}")
  log "side A built in $((SECONDS - start)) s"
  start=$SECONDS
  log "side B: umask 077, ${b_env[*]:1}, ${b_flags[*]}, in $b"
  (umask 077 && cd "$b" && "${b_env[@]}" "$b/$bazel_cmd" --output_base="$b/.bazel-cache/ob" \
    build "${b_flags[@]}" --execution_log_json_file="$blog" "${targets[@]}")
  log "side B built in $((SECONDS - start)) s"

  collect "$a" "$base/out-a"
  collect "$b" "$base/out-b"
  bin_sums "$a" "$base/a.sums"
  if ! diff -u "$base/out-a.files" "$base/out-b.files" >&2; then
    log "FAIL bazel: the two builds have different output paths (configuration directories?)"
    failures=$((failures + 1))
  fi
  compare "$base/out-a" "$base/out-b" "bazel"

  log "side A's spawns:"
  python3 "$execlog" summary "$alog" | sed 's/^/    /' >&2
  log "side B's spawns:"
  python3 "$execlog" summary "$blog" | sed 's/^/    /' >&2
  check "side B ran the CapsLayer actions unsandboxed, in the execroot" \
    python3 "$execlog" runner "$blog" --mnemonic CapsLayer --runner local
  # rules_go's GoStdlib tree holds a few more packages (internal/testpty,
  # net/internal/socktest, ...) when it runs unsandboxed: noted, not failed,
  # since every file both trees hold is identical and no layer uses them.
  check "the two execution logs agree on every output digest" \
    python3 "$execlog" same-outputs "$alog" "$blog" --tree-extras note

  hermetic "$a" "$base/out-a" "$b"
  local ob
  ob=$(bz "$a" info output_base 2>/dev/null)
  check "the CapsLayer action runs the toolchain's capslayer, no host program, no environment, no host path" \
    python3 "$execlog" hermetic "$alog" --mnemonic CapsLayer --forbid "$a:$b:$ob:$work"
  check "the CapsLayerDescriptor action (capslayer describe) likewise" \
    python3 "$execlog" hermetic "$alog" --mnemonic CapsLayerDescriptor --forbid "$a:$b:$ob:$work"
  # caps_image runs capslayer through a shell that redirects its stdout to
  # the digest file: the one host program it needs.
  check "the CapsImage action: no environment, no host path, no host program but the shell" \
    python3 "$execlog" hermetic "$alog" --mnemonic CapsImage --forbid "$a:$b:$ob:$work" --allow-host /bin/bash

  efficiency "$a"
  cache_phase "$b" "$alog" "$base/a.sums" "$url" "$base/cache"
}

# bin_sums WS FILE: sha256 of every regular file under WS's bazel-bin,
# sorted, in FILE (runfiles manifests hold absolute paths and are left out).
bin_sums() {
  local bin
  bin=$(bz "$1" info bazel-bin 2>/dev/null)
  (cd "$bin" && find . -type f ! -name '*.runfiles_manifest' ! -name MANIFEST ! -path '*.runfiles/*' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum) >"$2"
}

# cache_phase WS A_LOG A_SUMS URL CACHE_DIR: WS (side B) forgets everything
# (bazel clean --expunge) and is rebuilt from the remote cache that side A
# filled; every spawn must be a hit and every output side A's.
cache_phase() {
  local ws=$1 alog=$2 asums=$3 url=$4 cache=$5
  local logs=$ws/.bazel-cache summary
  log "== remote cache: side B, expunged, rebuilt from the cache side A filled"
  log "cache requests while side A built (method, area, status, count):"
  "$server" stats "$cache" | sed 's/^/    /' >&2
  local start=$SECONDS
  bz "$ws" clean --expunge >"$logs/expunge.log" 2>&1 || { cat "$logs/expunge.log" >&2; die "bazel clean --expunge failed in $ws"; }
  [[ ! -e $ws/.bazel-cache/ob/execroot ]] || die "the output base still has an execroot after clean --expunge"
  log "bazel clean --expunge: $((SECONDS - start)) s"
  : >"$cache/logs/access.log"

  # cached_build NAME: side B's environment, its flags plus the cache's; the
  # summary line in $summary.
  cached_build() {
    local name=$1 start=$SECONDS status=0
    (umask 077 && cd "$ws" && timeout "${BUILD_TIMEOUT:-2400}" "${b_env[@]}" \
      "$ws/$bazel_cmd" --output_base="$ws/.bazel-cache/ob" build "${b_flags[@]}" \
      --remote_cache="$url" --remote_download_outputs=all \
      --execution_log_json_file="$logs/$name.json" "${targets[@]}") >"$logs/$name.log" 2>&1 || status=$?
    if ((status)); then
      tail -n 30 "$logs/$name.log" >&2
      die "the $name build failed (exit $status); log above"
    fi
    summary=$(grep -E '^INFO: [0-9]+ process(es)?: ' "$logs/$name.log" | tail -n 1 | sed 's/^INFO: //')
    log "$name build: $((SECONDS - start)) s wall; $summary"
  }
  cached_build cache-expunged
  python3 "$execlog" summary "$logs/cache-expunged.json" | sed 's/^/    /' >&2
  check "summary line has only remote cache hits and internal processes" summary_only_hits "$summary"
  check "every spawn in the execution log was a remote cache hit" \
    python3 "$execlog" all-hits "$logs/cache-expunged.json" --require CapsLayer,CapsImage,GoCompilePkg,GoLink
  check "every output digest equals side A's cold build's (execution logs)" \
    python3 "$execlog" same-outputs "$alog" "$logs/cache-expunged.json"
  bin_sums "$ws" "$logs/cache-expunged.sums"
  check "every file under bazel-bin is byte-identical to side A's" same_files "$asums" "$logs/cache-expunged.sums"
  log "cache requests during the rebuild:"
  "$server" stats "$cache" | sed 's/^/    /' >&2

  # A plain bazel clean keeps the server, the repositories and the analysis:
  # what is left is the actions, all from the cache.
  bz "$ws" clean >"$logs/clean.log" 2>&1 || { cat "$logs/clean.log" >&2; die "bazel clean failed in $ws"; }
  cached_build cache-clean
  check "after bazel clean too, every spawn was a remote cache hit" \
    python3 "$execlog" all-hits "$logs/cache-clean.json" --require CapsLayer,CapsImage,GoCompilePkg,GoLink
}

# summary_only_hits LINE: "N processes: X remote cache hit, Y internal." and
# nothing else.
summary_only_hits() {
  echo "$1"
  [[ $1 =~ ^[0-9]+\ processes?:\ [0-9]+\ remote\ cache\ hit(,\ [0-9]+\ internal)?\.$ ]]
}

same_files() { # same_files A_SUMS B_SUMS
  diff -u "$1" "$2" && echo "$(wc -l <"$1") files under bazel-bin byte-identical"
}

# check DESCRIPTION COMMAND...: runs COMMAND; a failure is counted and its
# output shown.
check() {
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

# efficiency WS: incremental builds in WS, built before with a_flags.
#   no-op rebuild              -> no spawn at all
#   a new test in a package    -> the test is compiled and linked, no
#                                 CapsLayer (no layer holds a test binary)
#   comment-only edit of the layer's binary's source
#                              -> the compile reruns, its output is the same,
#                                 so the link and CapsLayer do not
#   code edit of that source   -> CapsLayer runs (the control: the check
#                                 does see a CapsLayer spawn when there is one)
efficiency() {
  local ws=$1
  local logs=$ws/.bazel-cache
  log "== bazel efficiency: incremental builds in $ws"
  step() { # step NAME: build with a_flags, execution log in logs/eff-NAME.json
    local name=$1 start=$SECONDS line
    if ! bz "$ws" build "${a_flags[@]}" --execution_log_json_file="$logs/eff-$name.json" "${targets[@]}" \
      >"$logs/eff-$name.log" 2>&1; then
      tail -n 20 "$logs/eff-$name.log" >&2
      log "FAIL: the $name build failed"
      failures=$((failures + 1))
      return 1
    fi
    line=$(grep -E '^INFO: [0-9]+ process(es)?[:.]' "$logs/eff-$name.log" | tail -n 1 | sed 's/^INFO: //')
    log "$name: $((SECONDS - start)) s wall, ${line:-no process line}"
  }
  if step noop; then
    check "a no-op rebuild runs no action" python3 "$execlog" none "$logs/eff-noop.json"
  fi

  # A new test in examples/server: its test binary changes, no layer does.
  printf '\nfunc TestEfficiencyCheck(t *testing.T) {}\n' >>"$ws/examples/server/main_test.go"
  if step unrelated; then
    check "a new test in examples/server recompiles and relinks its test" \
      python3 "$execlog" some "$logs/eff-unrelated.json" --mnemonic GoLink
    check "... and runs no CapsLayer action" \
      python3 "$execlog" none "$logs/eff-unrelated.json" --mnemonic CapsLayer
  fi

  printf '\n// A comment: the compiled package does not change.\n' >>"$ws/examples/hello/main.go"
  if step comment; then
    check "a comment in examples/hello recompiles it" \
      python3 "$execlog" some "$logs/eff-comment.json" --mnemonic GoCompilePkg
    check "... and, the package unchanged, relinks nothing" \
      python3 "$execlog" none "$logs/eff-comment.json" --mnemonic GoLink
    check "... and runs no CapsLayer action" \
      python3 "$execlog" none "$logs/eff-comment.json" --mnemonic CapsLayer
  fi

  printf '\nfunc init() { _ = os.Getenv("CAPSLAYER_EFFICIENCY_CHECK") }\n' >>"$ws/examples/hello/main.go"
  if step change; then
    check "a code change in examples/hello reruns the CapsLayer actions of its layers (control)" \
      python3 "$execlog" some "$logs/eff-change.json" --mnemonic CapsLayer
  fi
}

# hermetic WS OUT OTHER_WS: no absolute host path or host name in the outputs.
hermetic() {
  local ws=$1 out=$2 other=$3 ob execroot needle hits=0
  ob=$(bz "$ws" info output_base 2>/dev/null)
  execroot=$(bz "$ws" info execution_root 2>/dev/null)
  for needle in "$ws" "$other" "$ob" "$execroot" "$(hostname)" "$work"; do
    [[ -n $needle && ${#needle} -ge 4 ]] || continue
    # Compressed outputs are searched after decompression.
    while IFS= read -r -d '' f; do
      if decompressed "$f" | grep -aqF -- "$needle"; then
        log "FAIL hermetic: $f contains '$needle'"
        hits=$((hits + 1))
      fi
    done < <(find "$out" -type f -print0)
  done
  if ((hits)); then
    failures=$((failures + 1))
  else
    log "PASS hermetic: no workspace path, output base, execroot or host name in $(find "$out" -type f | wc -l) outputs"
  fi
}

decompressed() {
  case $(head -c 4 "$1" | od -An -tx1 | tr -d ' \n') in
    1f8b*) gzip -dc "$1" ;;
    28b52ffd) zstd -dc "$1" ;;
    *) cat "$1" ;;
  esac
}

# selftest: the cli check must notice a difference that is real, and name
# it. SOURCE_DATE_EPOCH is the one variable capslayer reads on purpose (the
# default mtime), so giving it to side B only must fail the check on the
# entries' mtime.
selftest() {
  log "== selftest: side B gets SOURCE_DATE_EPOCH=86400; the check must fail and say mtime"
  cli_b_extra_env=(SOURCE_DATE_EPOCH=86400)
  local out
  out=$(check_cli 2>&1; echo "failures=$failures")
  failures=0
  printf '%s\n' "$out" | grep -e 'mtime' -e '^repro:' | awk 'NR <= 12' | sed 's/^/  | /' >&2
  if [[ $out == *"failures=0" ]]; then
    log "FAIL selftest: the check passed although side B's layers have another mtime"
    failures=1
  elif ! grep -q 'entry app/hello: mtime: A=0 B=86400' <<<"$out"; then
    log "FAIL selftest: the check failed but did not name the mtime of app/hello"
    failures=1
  else
    log "PASS selftest: the difference was found and explained"
  fi

  # execlog.py on hand-written logs: each check must fail on the spawn that
  # breaks it, or the Bazel checks could pass by proving nothing.
  local d=$work/execlog
  mkdir -p "$d"
  cat >"$d/hit.json" <<'EOF'
{"mnemonic": "CapsLayer", "listedOutputs": ["l.tar"], "actualOutputs": [{"path": "l.tar", "digest": {"hash": "aa"}}], "runner": "remote cache hit", "cacheHit": true, "commandArgs": ["bazel-out/bin/capslayer", "layer"]}
{"mnemonic": "GoLink", "listedOutputs": ["bin"], "actualOutputs": [{"path": "bin", "digest": {"hash": "bb"}}], "runner": "remote cache hit", "cacheHit": true, "commandArgs": ["go"]}
EOF
  cat >"$d/miss.json" <<'EOF'
{"mnemonic": "CapsLayer", "listedOutputs": ["l.tar"], "actualOutputs": [{"path": "l.tar", "digest": {"hash": "ab"}}], "runner": "linux-sandbox", "commandArgs": ["/usr/bin/tar", "-cf", "/home/me/ws/l.tar"], "environmentVariables": [{"name": "TZ", "value": "UTC"}]}
{"mnemonic": "GoLink", "listedOutputs": ["bin"], "actualOutputs": [{"path": "bin", "digest": {"hash": "bb"}}], "runner": "disk cache hit", "cacheHit": true, "commandArgs": ["go"]}
EOF
  : >"$d/empty.json"
  local want got
  while read -r want args; do
    got=0
    # shellcheck disable=SC2086 # args are words
    python3 "$execlog" $args >"$d/out.txt" 2>&1 || got=$?
    if [[ $got != "$want" ]]; then
      log "FAIL selftest: execlog.py $args exited $got, want $want:"
      sed 's/^/    /' "$d/out.txt" >&2
      failures=$((failures + 1))
    fi
  done <<EOF
0 all-hits $d/hit.json --require CapsLayer,GoLink
1 all-hits $d/miss.json
1 all-hits $d/hit.json --require CapsImage
1 all-hits $d/empty.json
0 none $d/empty.json
1 none $d/hit.json --mnemonic GoLink
0 none $d/hit.json --mnemonic CapsImage
0 same-outputs $d/hit.json $d/hit.json
1 same-outputs $d/hit.json $d/miss.json
0 hermetic $d/hit.json --mnemonic CapsLayer --forbid /home/me
1 hermetic $d/miss.json --mnemonic CapsLayer --forbid /home/me
0 runner $d/miss.json --mnemonic CapsLayer --runner linux-sandbox
1 runner $d/hit.json --mnemonic CapsLayer --runner local
EOF
  ((failures)) || log "PASS selftest: execlog.py fails each check on a log that breaks it"
}

case $mode in
  cli) check_cli ;;
  selftest) selftest ;;
  bazel) check_bazel ;;
  all)
    check_cli
    check_bazel
    ;;
esac

if ((failures)); then
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed"
