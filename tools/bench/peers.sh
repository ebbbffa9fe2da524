#!/usr/bin/env bash
# The peer benchmark: caps_layer against the layer rules users have today,
# inside Bazel, in one run on one machine with the same inputs.
#
#   tools/bench/peers.sh > peers.md          (from the repository root)
#
# What it measures, in the examples/rules_oci workspace (targets in
# examples/rules_oci/bench/BUILD.bazel):
#   A. the Bazel action that makes a layer holding one payload file of each
#      size in SIZES_MIB (default 100 and 1024 MiB; executable code, not
#      random bytes) at /app/server: caps_layer (mnemonic CapsLayer, with
#      the capability) vs rules_pkg 1.2.0's pkg_tar (PackageTar, which
#      cannot write the capability) vs tar.bzl 0.7.0's tar (Tar: bsdtar fed
#      an mtree). The time is the action's executionWallTime from
#      --execution_log_json_file: the spawn's own wall time, without
#      Bazel's scheduling. In the same rotation, `cp --reflink=never` of the
#      same payload (wall time of the process), the bound for writing it.
#   B. the same layer given to oci_image: every action of the build after
#      the layer and the image were deleted (layer, OCIDescriptor, OCIImage),
#      summed, and Bazel's critical path.
#   C. the edit-to-image loop: a string in a Go server changes, then the
#      image is rebuilt (GoCompilePkg, GoLink, the layer, the image), for
#      caps_image over caps_layer, oci_image over caps_layer, and, as the
#      reference without caps_layer, oci_image over pkg_tar of the same
#      binary. Wall time of `bazel build` with a warm server, and the sum of
#      the layer and image actions.
#   D. compressed layers, for each size in COMPRESS_SIZES_MIB: caps_layer
#      with compression = "gzip" and "zstd" (the CapsLayer spawn) vs pigz -6
#      and zstd -3 -T0 (all cores) compressing the uncompressed caps_layer
#      tar of the same payload (wall time of the process).
# Each run deletes the outputs it measures and builds with --disk_cache=
# (no cache), so the actions really execute; tools are interleaved within a
# run, in a rotating order. The median of RUNS runs is reported (RUNS_LARGE
# for sizes of 1024 MiB and more, LOOP_RUNS for C), with min and max.
#
# Environment (all optional):
#   SIZES_MIB    payload sizes for A and B        (default "100 1024")
#   RUNS         runs per tool for sizes < 1 GiB  (default 5)
#   RUNS_LARGE   runs per tool for sizes >= 1 GiB (default 2)
#   LOOP_RUNS    edit-to-image runs per target    (default 5; 0 skips C)
#   COMPRESS_SIZES_MIB  payload sizes for D           (default: SIZES_MIB;
#                "" skips D)
#
# A smoke test of the script, not a measurement:
#   SIZES_MIB=1 COMPRESS_SIZES_MIB=1 RUNS=1 LOOP_RUNS=1 tools/bench/peers.sh
#
# Offline, it runs examples/rules_oci/offline/setup.sh first when
# .offline/bazelrc is missing. Progress goes to stderr, the report
# (Markdown) to stdout. Measured here: see docs/benchmarks.md ("Peers").
set -euo pipefail

SIZES_MIB=${SIZES_MIB:-100 1024}
RUNS=${RUNS:-5}
RUNS_LARGE=${RUNS_LARGE:-2}
LOOP_RUNS=${LOOP_RUNS:-5}
COMPRESS_SIZES_MIB=${COMPRESS_SIZES_MIB-$SIZES_MIB}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ws=$repo/examples/rules_oci
bazel=$repo/tools/bazel
input=$ws/bench/input
log() { echo "peers.sh: $*" >&2; }

cd "$ws"
if [[ ! -f .offline/bazelrc && ${CAPSLAYER_BAZEL_MODE:-auto} != online ]]; then
  log "running offline/setup.sh"
  offline/setup.sh >&2
fi
mkdir -p "$input"

# payload SIZE_MIB: input/payload_SIZE, the executable files over 64 KiB
# under /usr in name order, concatenated (repeated if /usr holds less).
# Rewritten only when missing, so Bazel's digest of it stays cached.
payload() {
  local mib=$1 f=$input/payload_$1
  [[ -f $f && $(stat -c %s "$f") == $((mib << 20)) ]] && return 0
  log "writing a $mib MiB payload"
  python3 - "$f.tmp" $((mib << 20)) <<'PY' || exit 2
import os, sys
out, want = sys.argv[1], int(sys.argv[2])
files = sorted(
    os.path.join(d, n)
    for top in ("/usr/lib", "/usr/bin", "/usr/libexec", "/usr/sbin")
    for d, _, names in os.walk(top)
    for n in names
    if os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n))
    and os.path.getsize(os.path.join(d, n)) > 65536
)
if not files:
    sys.exit("no files over 64 KiB under /usr")
left = want
with open(out, "wb") as w:
    while left:
        for p in files:
            with open(p, "rb") as r:
                data = r.read(left)
            w.write(data)
            left -= len(data)
            if not left:
                break
PY
  mv "$f.tmp" "$f"
}

# write_loop N: input/loop.go, the example server with a greeting that
# depends on N (a real code change: the compiled package differs).
write_loop() {
  sed -e "s|^const greeting = .*|const greeting = \"hello from rules_oci, edit $1\\\\n\"|" main.go >"$input/loop.go.tmp"
  mv "$input/loop.go.tmp" "$input/loop.go"
}

# build EXECLOG TARGETS...: bazel build without any cache; prints Bazel's
# client wall time in seconds.
build() {
  local execlog=$1 start end
  shift
  start=$(date +%s%N)
  "$bazel" build --disk_cache= --execution_log_json_file="$execlog" "$@" >"$input/build.out" 2>&1 || {
    cat "$input/build.out" >&2
    exit 1
  }
  end=$(date +%s%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }'
}

# spawn_times EXECLOG: "mnemonic seconds" for every spawn in the log.
spawn_times() {
  python3 - "$1" <<'PY'
import json, sys
s = open(sys.argv[1]).read()
dec, i = json.JSONDecoder(), 0
while True:
    while i < len(s) and s[i].isspace():
        i += 1
    if i >= len(s):
        break
    o, i = dec.raw_decode(s, i)
    t = o.get("metrics", {}).get("executionWallTime", "0s")
    print(o.get("mnemonic", "?"), float(t.rstrip("s") or 0))
PY
}
sum_of() { # sum_of EXECLOG MNEMONIC_REGEX
  spawn_times "$1" | awk -v re="^($2)\$" '$1 ~ re { s += $2; n++ } END { if (!n) { print "missing"; exit 1 } printf "%.3f\n", s }'
}
critical_path() { sed -n 's/.*Critical Path: \([0-9.]*\)s.*/\1/p' "$input/build.out"; }

bin=$(readlink -f bazel-bin)/bench
# forget PATTERN...: deletes outputs under bazel-bin/bench, so the next
# build runs their actions again.
forget() {
  local p
  for p in "$@"; do
    # shellcheck disable=SC2086 # p is a glob
    rm -rf "${bin:?}"/$p
  done
}

# stats VALUES...: "median (min–max)".
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f (%.3f–%.3f)\n", m, v[1], v[NR] }'
}
median() { stats "$@" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'; }

# timed COMMAND...: runs COMMAND (output to $input/timed.out); prints its
# wall time in seconds.
timed() {
  local start end
  rm -f "$input/timed.out"
  start=$(date +%s%N)
  "$@" >"$input/timed.out"
  end=$(date +%s%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }'
}

tools=(caps_layer pkg_tar tar_bzl)
declare -A mnemonic=([caps_layer]=CapsLayer [pkg_tar]=PackageTar [tar_bzl]=Tar)
compressors=(caps_layer_gzip caps_layer_zstd pigz zstd_T0)

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for mib in $SIZES_MIB $COMPRESS_SIZES_MIB; do payload "$mib"; done
write_loop 0

# Warm up: the tools (capslayer, pkg_tar's build_tar, regctl ...), the
# payload digests, the Go SDK and the loop's first build.
log "warm-up build"
targets=()
for mib in $SIZES_MIB; do
  for t in "${tools[@]}"; do targets+=("//bench:image_${t}_$mib"); done
done
for mib in $COMPRESS_SIZES_MIB; do
  targets+=("//bench:caps_layer_$mib" "//bench:caps_layer_gzip_$mib" "//bench:caps_layer_zstd_$mib")
done
((LOOP_RUNS > 0)) && targets+=(//bench:loop_caps_image //bench:loop_oci_image //bench:loop_oci_image_pkg_tar)
build "$input/warm.json" "${targets[@]}" >/dev/null

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A layer_t image_t image_cp size_of
atools=("${tools[@]}" cp)
for mib in $SIZES_MIB; do
  runs=$RUNS
  ((mib >= 1024)) && runs=$RUNS_LARGE
  for ((r = 0; r < runs; r++)); do
    for ((k = 0; k < ${#atools[@]}; k++)); do
      t=${atools[(k + r) % ${#atools[@]}]}
      if [[ $t == cp ]]; then
        log "size $mib MiB, run $((r + 1))/$runs: cp"
        layer_t[cp.$mib]+=" $(timed cp --reflink=never "$input/payload_$mib" "$input/cp.out")"
        rm -f "$input/cp.out"
        continue
      fi
      out=${t}_$mib.tar # each rule names its output <name>.tar
      # A: the layer action alone.
      forget "$out"
      log "size $mib MiB, run $((r + 1))/$runs: $t layer"
      build "$input/a.json" "//bench:${t}_$mib" >/dev/null
      layer_t[$t.$mib]+=" $(sum_of "$input/a.json" "${mnemonic[$t]}")"
      size_of[$t.$mib]=$(stat -c %s "$bin/$out")
      # B: layer and image.
      forget "$out" "image_${t}_$mib" "image_${t}_$mib.*" "image_${t}_${mib}_*"
      log "size $mib MiB, run $((r + 1))/$runs: $t layer + oci_image"
      build "$input/b.json" "//bench:image_${t}_$mib" >/dev/null
      image_t[$t.$mib]+=" $(spawn_times "$input/b.json" | awk '{ s += $2 } END { printf "%.3f\n", s }')"
      image_cp[$t.$mib]+=" $(critical_path)"
    done
  done
done

# D: compressed layers against pigz and zstd -T0 on the same tar.
declare -A comp_t comp_size
for mib in $COMPRESS_SIZES_MIB; do
  runs=$RUNS
  ((mib >= 1024)) && runs=$RUNS_LARGE
  plain=$bin/caps_layer_$mib.tar
  [[ -f $plain ]] || build "$input/d.json" "//bench:caps_layer_$mib" >/dev/null
  for ((r = 0; r < runs; r++)); do
    for ((k = 0; k < ${#compressors[@]}; k++)); do
      t=${compressors[(k + r) % ${#compressors[@]}]}
      log "compressed, size $mib MiB, run $((r + 1))/$runs: $t"
      case $t in
      caps_layer_*)
        ext=.tar.gz
        [[ $t == *zstd ]] && ext=.tar.zst
        forget "${t}_$mib$ext"
        build "$input/d.json" "//bench:${t}_$mib" >/dev/null
        comp_t[$t.$mib]+=" $(sum_of "$input/d.json" CapsLayer)"
        comp_size[$t.$mib]=$(stat -c %s "$bin/${t}_$mib$ext")
        ;;
      pigz)
        comp_t[$t.$mib]+=" $(timed pigz -6 -c "$plain")"
        comp_size[$t.$mib]=$(stat -c %s "$input/timed.out")
        ;;
      zstd_T0)
        comp_t[$t.$mib]+=" $(timed zstd -3 -T0 -q -c "$plain")"
        comp_size[$t.$mib]=$(stat -c %s "$input/timed.out")
        ;;
      esac
    done
  done
done
rm -f "$input/timed.out"

# C: the edit-to-image loop.
loops=(loop_caps_image loop_oci_image loop_oci_image_pkg_tar)
declare -A loop_wall loop_layer loop_image
n=0
for ((r = 0; r < LOOP_RUNS; r++)); do
  for ((k = 0; k < ${#loops[@]}; k++)); do
    t=${loops[(k + r) % ${#loops[@]}]}
    n=$((n + 1))
    write_loop "$n"
    log "loop run $((r + 1))/$LOOP_RUNS: $t"
    # shellcheck disable=SC2086 # word lists
    loop_wall[$t]+=" $(build "$input/c.json" "//bench:$t")"
    loop_layer[$t]+=" $(sum_of "$input/c.json" 'CapsLayer|PackageTar')"
    loop_image[$t]+=" $(sum_of "$input/c.json" 'CapsImage|OCIDescriptor|OCIImage')"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
# The bsdtar the Tar actions ran: offline, the chroot's.
if [[ -f .offline/bazelrc ]]; then
  bsdtar_version=$(CAPSLAYER_BAZEL_MODE=shell "$bazel" -c 'bsdtar --version' 2>/dev/null | head -n1 | cut -d' ' -f1-5 || true)
else
  bsdtar_version=$(bsdtar --version 2>/dev/null | head -n1 | cut -d' ' -f1-5 || true)
fi
bsdtar_version=${bsdtar_version:-bsdtar}

# The report.
commit=$(git -C "$repo" rev-parse --short HEAD)
dirty=
if git -C "$repo" status --porcelain --untracked-files=no | grep -q .; then
  dirty=" (with uncommitted changes)"
fi
pigz_version=$(pigz --version 2>&1 | head -n1)
zstd_version=$(zstd --version 2>&1 | head -n1 | sed 's/^\*\*\* //; s/, by .*//')
cat <<EOF
### The run of $started

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr); load average $load_before before the script, $load_start after its warm-up build (its own work), $load_end at the end.
Commit $commit$dirty; Bazel $(tr -d '[:space:]' <.bazelversion) (tools/bazel), rules_pkg 1.2.0, tar.bzl 0.7.0 (with $bsdtar_version), rules_oci 2.3.2; $pigz_version, $zstd_version.
Command: \`SIZES_MIB="$SIZES_MIB" COMPRESS_SIZES_MIB="$COMPRESS_SIZES_MIB" RUNS=$RUNS RUNS_LARGE=$RUNS_LARGE LOOP_RUNS=$LOOP_RUNS tools/bench/peers.sh\`.
Times in seconds, median (min–max) of the runs; no disk or remote cache.

#### A. The layer action (executionWallTime of the one spawn) and \`cp\` of the payload

| payload | caps_layer (CapsLayer) | pkg_tar (PackageTar) | tar.bzl (Tar) | cp | pkg_tar / caps_layer | tar.bzl / caps_layer | caps_layer / cp | layer sizes (bytes) |
|---|---|---|---|---|---|---|---|---|
EOF
for mib in $SIZES_MIB; do
  # shellcheck disable=SC2086 # word lists
  c=$(median ${layer_t[caps_layer.$mib]}) p=$(median ${layer_t[pkg_tar.$mib]}) b=$(median ${layer_t[tar_bzl.$mib]}) k=$(median ${layer_t[cp.$mib]})
  # shellcheck disable=SC2086
  printf '| %s MiB | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n' "$mib" \
    "$(stats ${layer_t[caps_layer.$mib]})" "$(stats ${layer_t[pkg_tar.$mib]})" "$(stats ${layer_t[tar_bzl.$mib]})" "$(stats ${layer_t[cp.$mib]})" \
    "$(ratio "$p" "$c")" "$(ratio "$b" "$c")" "$(ratio "$c" "$k")" "${size_of[caps_layer.$mib]}" "${size_of[pkg_tar.$mib]}" "${size_of[tar_bzl.$mib]}"
done
cat <<EOF

#### B. Layer + oci_image (all spawns of the build: layer, OCIDescriptor, OCIImage)

| payload | over caps_layer: spawns / critical path | over pkg_tar | over tar.bzl |
|---|---|---|---|
EOF
for mib in $SIZES_MIB; do
  row="| $mib MiB"
  for t in "${tools[@]}"; do
    # shellcheck disable=SC2086
    row+=" | $(stats ${image_t[$t.$mib]}) / $(stats ${image_cp[$t.$mib]})"
  done
  echo "$row |"
done
if ((LOOP_RUNS > 0)); then
  cat <<EOF

#### C. Edit-to-image loop (one Go string changed, then \`bazel build\` of the image, warm server)

| image | bazel build wall | layer action | image actions |
|---|---|---|---|
EOF
  declare -A loop_name=([loop_caps_image]='caps_image over caps_layer' [loop_oci_image]='oci_image over caps_layer' [loop_oci_image_pkg_tar]='oci_image over pkg_tar (reference)')
  for t in "${loops[@]}"; do
    # shellcheck disable=SC2086
    printf '| %s | %s | %s | %s |\n' "${loop_name[$t]}" "$(stats ${loop_wall[$t]})" "$(stats ${loop_layer[$t]})" "$(stats ${loop_image[$t]})"
  done
fi
if [[ -n ${COMPRESS_SIZES_MIB// /} ]]; then
  cat <<EOF

#### D. Compressed layers (the CapsLayer spawn) against pigz and zstd -T0 compressing the uncompressed layer

| payload | caps_layer gzip | pigz -6 | caps_layer zstd | zstd -3 -T0 | caps_layer gzip / pigz | caps_layer zstd / zstd -T0 | sizes (bytes): caps_layer gzip / pigz / caps_layer zstd / zstd |
|---|---|---|---|---|---|---|---|
EOF
  for mib in $COMPRESS_SIZES_MIB; do
    # shellcheck disable=SC2086 # word lists
    g=$(median ${comp_t[caps_layer_gzip.$mib]}) pg=$(median ${comp_t[pigz.$mib]}) z=$(median ${comp_t[caps_layer_zstd.$mib]}) zt=$(median ${comp_t[zstd_T0.$mib]})
    # shellcheck disable=SC2086
    printf '| %s MiB | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s |\n' "$mib" \
      "$(stats ${comp_t[caps_layer_gzip.$mib]})" "$(stats ${comp_t[pigz.$mib]})" "$(stats ${comp_t[caps_layer_zstd.$mib]})" "$(stats ${comp_t[zstd_T0.$mib]})" \
      "$(ratio "$g" "$pg")" "$(ratio "$z" "$zt")" \
      "${comp_size[caps_layer_gzip.$mib]}" "${comp_size[pigz.$mib]}" "${comp_size[caps_layer_zstd.$mib]}" "${comp_size[zstd_T0.$mib]}"
  done
fi
