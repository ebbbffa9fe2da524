#!/usr/bin/env bash
# Benchmarks `capslayer layer --from-image` (a copy-up layer of one file of a
# base image) against what it must at least do, and checks the target of
# docs/benchmarks.md:
#   capslayer <= 1.2 x (tar -xOzf <the layer holding the file> <path> | sha256sum
#                        + tar -tzf <each layer above it>)
#   capslayer max RSS <= 32 MiB
#
# The base is an OCI layout of gzip layers, as registries serve them: a
# bottom layer of about BASE_MIB MiB (executable code from /usr, so that gzip
# has real work) holding the FILE_MIB MiB file usr/sbin/bigd, and ABOVE small
# layers on top (each ~ABOVE_MIB MiB). The copy-up reads the layers above
# (headers only, but gzip must be decompressed to find them) and the bottom
# layer once, copying the file as it streams past; the reference is GNU tar
# doing the same reads without writing a layer.
#
# Usage: tools/bench/copyup.sh            (from the repository root)
# Environment:
#   BASE_MIB   size of the bottom layer's content in MiB (default 2048)
#   FILE_MIB   size of the file copied up in MiB (default 50)
#   ABOVE      number of layers above it (default 2)
#   ABOVE_MIB  size of each of them in MiB (default 16)
#   RUNS       runs per tool; the best wall time counts (default 3)
#   WORK       scratch directory (default: mktemp -d); needs ~2 x BASE_MIB free
#   CAPSLAYER  capslayer binary to use (default: go build ./capslayer)
#   SKIP_TARGETS=1  exit 0 even if a target is missed
# Smoke test: BASE_MIB=64 FILE_MIB=8 ABOVE_MIB=2 RUNS=1 tools/bench/copyup.sh
# Exit status 1 if a target fails.
set -euo pipefail

BASE_MIB=${BASE_MIB:-2048}
FILE_MIB=${FILE_MIB:-50}
ABOVE=${ABOVE:-2}
ABOVE_MIB=${ABOVE_MIB:-16}
RUNS=${RUNS:-3}
RATIO_MAX=1.2
RSS_MAX_KIB=$((32 * 1024))

for tool in /usr/bin/time tar gzip sha256sum awk find; do
	command -v "$tool" >/dev/null || { echo "copyup.sh: $tool is required (apt-get install time tar gzip coreutils gawk findutils)" >&2; exit 2; }
done
tar --version | head -1 | grep -q 'GNU tar' || { echo "copyup.sh: tar is not GNU tar" >&2; exit 2; }

own_work=
if [[ -z ${WORK:-} ]]; then
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/copyupbench.XXXXXX")
	own_work=1
fi
cleanup() {
	if [[ -n $own_work ]]; then rm -rf "$WORK"; elif [[ -z ${KEEP:-} ]]; then rm -rf "$WORK"/root "$WORK"/*.tar.gz "$WORK"/base "$WORK"/out.* "$WORK"/time.txt "$WORK"/code.bin; fi
	return 0
}
trap cleanup EXIT

if [[ -z ${CAPSLAYER:-} ]]; then
	CAPSLAYER=$WORK/capslayer
	go build -o "$CAPSLAYER" ./capslayer
fi

# fill DIR MIB: files of executable code from /usr, 4 MiB each, totalling MIB.
code=$WORK/code.bin
# (head ends the pipelines early: their SIGPIPE is expected.)
(set +o pipefail; find /usr/lib /usr/bin /usr/libexec /usr/sbin -type f -size +64k -print0 2>/dev/null | sort -z | head -z -n 400 | xargs -0 cat 2>/dev/null | head -c $((64 << 20)) >"$code")
fill() {
	local dir=$1 mib=$2 i=0
	mkdir -p "$dir"
	while ((mib > 0)); do
		local n=$((mib < 4 ? mib : 4))
		# Each file differs (its index first), so that gzip cannot reuse one
		# file's matches for the next.
		(set +o pipefail; { printf 'file %d\n' "$i"; tail -c +$((i * 65536 % (32 << 20) + 1)) "$code" "$code" | head -c $(((n << 20) - 16)); } >"$dir/f$i.bin")
		mib=$((mib - n))
		i=$((i + 1))
	done
}

echo "building the base: ${BASE_MIB} MiB bottom layer with a ${FILE_MIB} MiB file, $ABOVE layers of ${ABOVE_MIB} MiB above" >&2
root=$WORK/root
rm -rf "$root"
fill "$root/l0/usr/share/data" $((BASE_MIB - FILE_MIB))
mkdir -p "$root/l0/usr/sbin"
(set +o pipefail; cat "$code" "$code" | head -c $((FILE_MIB << 20)) >"$root/l0/usr/sbin/bigd")
chmod 0755 "$root/l0/usr/sbin/bigd"
tar_opts=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=pax --pax-option=delete=atime,delete=ctime)
# The file sits in the middle of the layer, as a server binary among a
# distribution's files: usr/sbin sorts after usr/share.
tar "${tar_opts[@]}" -C "$root/l0" -cf - usr | gzip -6 -n >"$WORK/l0.tar.gz"
layers=(--layer "$WORK/l0.tar.gz")
for ((k = 1; k <= ABOVE; k++)); do
	fill "$root/l$k/opt/layer$k" "$ABOVE_MIB"
	mkdir -p "$root/l$k/usr/sbin" && echo "layer $k" >"$root/l$k/usr/sbin/other$k"
	tar "${tar_opts[@]}" -C "$root/l$k" -cf - opt usr | gzip -6 -n >"$WORK/l$k.tar.gz"
	layers+=(--layer "$WORK/l$k.tar.gz")
done
rm -rf "$root"
"$CAPSLAYER" image "${layers[@]}" --output "$WORK/base" >/dev/null
# The blobs are read from the page cache by every tool.
cat "$WORK"/base/blobs/sha256/* >/dev/null

declare -A best rss
tools=(capslayer reference)

run_reference() {
	tar -xOzf "$WORK/l0.tar.gz" usr/sbin/bigd | sha256sum >/dev/null
	for ((k = 1; k <= ABOVE; k++)); do
		tar -tzf "$WORK/l$k.tar.gz" >/dev/null
	done
}

now_ns() { date +%s%N; }

for ((r = 1; r <= RUNS; r++)); do
	for t in "${tools[@]}"; do
		[[ $t == capslayer ]] && rm -f "$WORK"/out.*
		sync
		start=$(now_ns)
		case $t in
		capslayer) /usr/bin/time -f '%M' -o "$WORK/time.txt" "$CAPSLAYER" layer --from-image "$WORK/base" --set /usr/sbin/bigd=cap_net_bind_service=ep --output "$WORK/out.tar" ;;
		reference) /usr/bin/time -f '%M' -o "$WORK/time.txt" bash -c "$(declare -p WORK ABOVE); $(declare -f run_reference); run_reference" ;;
		esac
		end=$(now_ns)
		secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		kib=$(tail -1 "$WORK/time.txt")
		printf 'run %d %-9s %7s s  %7d KiB\n' "$r" "$t" "$secs" "$kib" >&2
		if [[ -z ${best[$t]:-} ]] || awk -v a="$secs" -v b="${best[$t]}" 'BEGIN { exit !(a < b) }'; then
			best[$t]=$secs
		fi
		if [[ -z ${rss[$t]:-} ]] || ((kib > rss[$t])); then
			rss[$t]=$kib
		fi
	done
done

# The copy-up layer holds the file, byte for byte, with the capability.
got=$(tar -xOf "$WORK/out.tar" usr/sbin/bigd | sha256sum | cut -d' ' -f1)
want=$(tar -xOzf "$WORK/l0.tar.gz" usr/sbin/bigd | sha256sum | cut -d' ' -f1)
[[ $got == "$want" ]] || { echo "copyup.sh: the copy-up layer's usr/sbin/bigd differs from the base's" >&2; exit 1; }
"$CAPSLAYER" inspect "$WORK/out.tar" | grep -q 'cap_net_bind_service=ep' || { echo "copyup.sh: the copy-up layer has no capability" >&2; exit 1; }

echo "# copy-up layer benchmark"
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d)"
echo "base:    bottom layer $(du -m "$WORK/l0.tar.gz" | cut -f1) MiB gzip (${BASE_MIB} MiB of content, the ${FILE_MIB} MiB file in it), $ABOVE layers of $(du -m "$WORK/l1.tar.gz" 2>/dev/null | cut -f1) MiB gzip above"
echo "best of $RUNS runs (seconds, max RSS over all runs):"
printf '  %-9s %7s s  %7d KiB  %s\n' capslayer "${best[capslayer]}" "${rss[capslayer]}" "capslayer layer --from-image base --set /usr/sbin/bigd=cap_net_bind_service=ep --output out.tar"
printf '  %-9s %7s s  %7d KiB  %s\n' reference "${best[reference]}" "${rss[reference]}" "tar -xOzf l0.tar.gz usr/sbin/bigd | sha256sum; tar -tzf l1..l$ABOVE.tar.gz"
echo

fail=0
verdict() { # verdict OK DESCRIPTION
	if [[ $1 == 1 ]]; then echo "PASS  $2"; else echo "FAIL  $2"; fail=1; fi
}
ratio=$(awk -v c="${best[capslayer]}" -v s="${best[reference]}" 'BEGIN { printf "%.2f", c / s }')
verdict "$(awk -v r="$ratio" -v m="$RATIO_MAX" 'BEGIN { print (r <= m) ? 1 : 0 }')" \
	"capslayer / reference = ${best[capslayer]} / ${best[reference]} = $ratio (target <= $RATIO_MAX)"
verdict "$((rss[capslayer] <= RSS_MAX_KIB ? 1 : 0))" \
	"capslayer max RSS = ${rss[capslayer]} KiB (target <= $RSS_MAX_KIB KiB)"
[[ -n ${SKIP_TARGETS:-} ]] && exit 0
exit $fail
