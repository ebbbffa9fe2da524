#!/usr/bin/env bash
# capslayer audit of an image in a registry, reading its layers, against
# pigz -dc of the same layer blob, in one run on one machine.
#
#   tools/bench/audit-registry.sh > audit-registry.md     (from the repository root)
#   SIZE_MIB=50 RUNS=1 tools/bench/audit-registry.sh      (smoke test, ~15 s)
#
# It starts Debian's docker-registry (distribution) on 127.0.0.1, plain
# HTTP, storage in a scratch directory, and pushes to it with capslayer push
# an image of two layers: a gzip layer (pigz -6) of a tar of SIZE_MIB
# (default 2048) MiB of files from /usr (executable code, not random bytes),
# and capslayer's layer giving /app/server cap_net_bind_service=ep. Then,
# interleaved, RUNS times each, best wall time kept:
#   capslayer   capslayer audit --profile pss-restricted --insecure IMAGE,
#               reading the layers (--layers where the binary still has
#               that flag; reading them is the default otherwise): the
#               blob over HTTP, its digest, gunzip, the diff ID, every tar
#               header
#   pigz -dc    pigz -dc of the gzip blob, from the registry's storage
#               file (page cache), to /dev/null: decompression alone
#   curl-pigz   curl of the blob from the registry piped to pigz -dc: the
#               transfer and decompression, no digest, no tar
#   gzip -dc    GNU gzip -dc of the same file: single-threaded zlib-style
#               inflate, for reference
# Wall time (date +%s%N), user+sys CPU and max RSS (/usr/bin/time -f) per
# run; the report (Markdown) goes to stdout, progress to stderr. The
# registry is stopped on exit, whatever happens.
#
# Targets (exit 1 when missed, SKIP_TARGETS=1 to ignore): capslayer within
# 1.0x of pigz -dc, and at most 32 MiB max RSS.
#
# Environment (all optional):
#   SIZE_MIB   uncompressed size of the big layer        (default 2048)
#   RUNS       runs per tool, best counts                (default 3)
#   WORK       scratch directory (about 2 x SIZE_MIB MiB free; default mktemp -d)
#   CAPSLAYER  the binary to measure                     (default: go build ./capslayer)
#   REGISTRY   docker-registry binary                    (default /usr/bin/docker-registry)
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-2048}
RUNS=${RUNS:-3}
REGISTRY=${REGISTRY:-/usr/bin/docker-registry}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
log() { echo "audit-registry.sh: $*" >&2; }

for tool in "$REGISTRY" pigz gzip curl /usr/bin/time python3; do
  if ! command -v "$tool" >/dev/null; then
    log "missing $tool (apt-get install docker-registry pigz gzip curl time python3)"
    exit 2
  fi
done

own_work=
if [[ -z ${WORK:-} ]]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/audit-registry.XXXXXX")
  own_work=1
fi
mkdir -p "$WORK"
reg_pid=
cleanup() {
  if [[ -n $reg_pid ]]; then
    kill "$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
  fi
  if [[ -n $own_work ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${CAPSLAYER:-} ]]; then
  log "building capslayer"
  (cd "$repo" && go build -o "$WORK/capslayer" ./capslayer)
  CAPSLAYER=$WORK/capslayer
fi

# The big layer: a tar of the executable files over 64 KiB under /usr, in
# name order, repeated under new names until SIZE_MIB MiB; then pigz -6.
log "writing a $SIZE_MIB MiB layer"
python3 - "$WORK/big.tar" $((SIZE_MIB << 20)) <<'PY'
import os, sys, tarfile
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
written, rnd = 0, 0
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
    while written < want:
        for f in files:
            size = min(os.path.getsize(f), want - written)
            ti = tarfile.TarInfo("data/%d%s" % (rnd, f))
            ti.size, ti.mode, ti.mtime = size, 0o755, 0
            with open(f, "rb") as r:
                tf.addfile(ti, r)
            written += size
            if written >= want:
                break
        rnd += 1
PY
pigz -6 -n -c "$WORK/big.tar" > "$WORK/big.tar.gz"
rm -f "$WORK/big.tar"
"$CAPSLAYER" layer --binary /bin/true --path /app/server --caps cap_net_bind_service=ep --output "$WORK/caps.tar"
"$CAPSLAYER" image --layer "$WORK/big.tar.gz" --layer "$WORK/caps.tar" --entrypoint /app/server --user 1000 \
  --platform linux/amd64 --output "$WORK/layout" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat > "$WORK/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $host
EOF
log "starting docker-registry on $host"
"$REGISTRY" serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
  curl -fs "http://$host/v2/" >/dev/null && break
  if ! kill -0 "$reg_pid" 2>/dev/null; then
    log "docker-registry exited: $(cat "$WORK/registry.log")"
    exit 2
  fi
  sleep 0.1
done
image=$host/bench/app:1
"$CAPSLAYER" push --insecure --repository "$image" "$WORK/layout" >/dev/null

blob_digest=$(python3 - "$WORK/layout" <<'PY'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/" + idx["manifests"][0]["digest"].replace(":", "/")))
print(next(l["digest"] for l in m["layers"] if l["mediaType"].endswith("gzip")))
PY
)
hex=${blob_digest#sha256:}
blob=$WORK/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
[[ -f $blob ]] || { log "no blob at $blob"; exit 2; }
cat "$blob" > /dev/null # into the page cache

layers=()
if "$CAPSLAYER" audit --help 2>&1 | grep -q -- '^  -layers'; then layers=(--layers); fi

# measure NAME CMD...: one run; appends "wall_ms user_s sys_s rss_kib" to
# $WORK/results/NAME.
mkdir -p "$WORK/results"
measure() {
  local name=$1
  shift
  local start end
  sync
  start=$(date +%s%N)
  /usr/bin/time -f '%U %S %M' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/err.out" || {
    log "$name failed: $(tail -5 "$WORK/err.out")"
    exit 2
  }
  end=$(date +%s%N)
  read -r user sys rss < <(tail -1 "$WORK/time.out")
  echo "$(((end - start) / 1000000)) $user $sys $rss" >> "$WORK/results/$name"
}
names=(capslayer pigz curl-pigz gzip)
for r in $(seq "$RUNS"); do
  log "run $r of $RUNS"
  measure capslayer "$CAPSLAYER" audit --profile pss-restricted --insecure "${layers[@]}" "$image"
  measure pigz pigz -dc "$blob"
  measure curl-pigz sh -c 'curl -fs "$1" | pigz -dc' sh "http://$host/v2/bench/app/blobs/$blob_digest"
  measure gzip gzip -dc "$blob"
done

# best NAME: "wall_ms cpu_s" of the fastest run; maxrss NAME: largest KiB.
best() { sort -n "$WORK/results/$1" | head -1 | awk '{printf "%d %.2f\n", $1, $2 + $3}'; }
maxrss() { awk 'BEGIN{m=0} $4 > m {m=$4} END{print m}' "$WORK/results/$1"; }

compressed=$(stat -c %s "$blob")
read -r cl_ms cl_cpu < <(best capslayer)
read -r pz_ms _ < <(best pigz)
cl_rss=$(maxrss capslayer)
ratio=$(awk -v a="$cl_ms" -v b="$pz_ms" 'BEGIN{printf "%.2f", a / b}')

echo "## capslayer audit from a registry against pigz -dc"
echo
echo "$(date -u +%Y-%m-%d), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; docker-registry $("$REGISTRY" --version 2>/dev/null | awk '{print $NF}'), $(pigz --version 2>&1), best of $RUNS."
echo
echo "Layer: $SIZE_MIB MiB uncompressed, $((compressed >> 20)) MiB gzip (pigz -6); the image has a second, tiny layer."
echo
echo "| tool | best wall (s) | user+sys of that run (s) | max RSS (MiB) | vs pigz -dc |"
echo "|---|---:|---:|---:|---:|"
for n in "${names[@]}"; do
  read -r ms cpu < <(best "$n")
  rss=$(maxrss "$n")
  printf '| %s | %.2f | %s | %.1f | %.2fx |\n' "$n" "$(awk -v m="$ms" 'BEGIN{print m / 1000}')" "$cpu" "$(awk -v k="$rss" 'BEGIN{print k / 1024}')" "$(awk -v a="$ms" -v b="$pz_ms" 'BEGIN{print a / b}')"
done
echo
echo "capslayer: \`capslayer audit --profile pss-restricted --insecure ${layers[*]} IMAGE\` ($cl_cpu s CPU); pigz: \`pigz -dc BLOB >/dev/null\`; curl-pigz: \`curl -fs BLOB_URL | pigz -dc >/dev/null\`; gzip: \`gzip -dc BLOB >/dev/null\`."
echo

status=0
if awk -v r="$ratio" 'BEGIN{exit !(r > 1.0)}'; then
  echo "- MISSED: capslayer took ${ratio}x pigz -dc's time (target: at most 1.0x)"
  status=1
else
  echo "- met: capslayer took ${ratio}x pigz -dc's time (target: at most 1.0x)"
fi
if ((cl_rss > 32 * 1024)); then
  echo "- MISSED: capslayer max RSS $((cl_rss / 1024)) MiB (target: at most 32 MiB)"
  status=1
else
  echo "- met: capslayer max RSS $((cl_rss / 1024)) MiB (target: at most 32 MiB)"
fi
if [[ ${SKIP_TARGETS:-} == 1 ]]; then status=0; fi
exit $status
