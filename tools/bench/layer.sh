#!/usr/bin/env bash
# Benchmarks `capslayer layer` (uncompressed, with digest) against cp,
# openssl dgst -sha256 and GNU tar --xattrs -cf on the same file, and checks
# the performance targets of docs/layer-format.md:
#   1. capslayer <= 1.3 x the slower of cp and openssl dgst -sha256
#   2. capslayer faster than GNU tar --xattrs -cf
#   3. capslayer max RSS <= 32 MiB
#
# Usage: tools/bench/layer.sh            (from the repository root)
# Environment:
#   SIZE_MIB   size of the test file in MiB (default 512)
#   RUNS       runs per tool; the best wall time counts (default 5)
#   WORK       scratch directory, on the file system to measure (default: mktemp -d)
#   CAPSLAYER  capslayer binary to use (default: go build ./capslayer)
#
# Every tool reads the same file from the page cache (it is read once
# before timing) and writes to WORK; runs are interleaved and preceded by
# `sync`, so that one tool's dirty pages are not flushed on another's clock.
# Exit status 1 if a target fails.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-5}
RATIO_MAX=1.3
RSS_MAX_KIB=$((32 * 1024))

for tool in /usr/bin/time openssl tar cp awk; do
	command -v "$tool" >/dev/null || { echo "layer.sh: $tool is required (apt-get install time openssl tar)" >&2; exit 2; }
done
tar --version | head -1 | grep -q 'GNU tar' || { echo "layer.sh: tar is not GNU tar" >&2; exit 2; }

own_work=
if [[ -z ${WORK:-} ]]; then
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/layerbench.XXXXXX")
	own_work=1
fi
cleanup() {
	rm -f "$WORK"/out.* "$WORK"/in.bin "$WORK"/time.txt
	[[ -n $own_work ]] && rm -rf "$WORK"
	return 0
}
trap cleanup EXIT

if [[ -z ${CAPSLAYER:-} ]]; then
	CAPSLAYER=$WORK/capslayer
	go build -o "$CAPSLAYER" ./capslayer
fi

in=$WORK/in.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$in"
# If we can, give the input a capability too, so that tar --xattrs has one
# to archive, like capslayer.
if command -v setcap >/dev/null && setcap cap_net_bind_service=ep "$in" 2>/dev/null; then
	tar_note="input has security.capability"
else
	tar_note="input has no xattr (setcap failed: not root?)"
fi
cat "$in" >/dev/null # into the page cache

declare -A best rss
tools=(capslayer cp openssl tar)

cmd_for() {
	case $1 in
	capslayer) echo "$CAPSLAYER layer --binary $in --path /app/big --caps cap_net_bind_service=ep --output $WORK/out.tar --print-digest" ;;
	cp) echo "cp $in $WORK/out.cp" ;;
	openssl) echo "openssl dgst -sha256 $in" ;;
	tar) echo "tar --xattrs --xattrs-include=security.capability -cf $WORK/out.gnutar -C $WORK in.bin" ;;
	esac
}

now_ns() { date +%s%N; }

for ((r = 1; r <= RUNS; r++)); do
	for t in "${tools[@]}"; do
		rm -f "$WORK"/out.*
		sync
		read -ra cmd <<<"$(cmd_for "$t")"
		start=$(now_ns)
		/usr/bin/time -f '%M' -o "$WORK/time.txt" "${cmd[@]}" >/dev/null
		end=$(now_ns)
		secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		kib=$(tail -1 "$WORK/time.txt")
		printf 'run %d %-9s %6s s  %7d KiB\n' "$r" "$t" "$secs" "$kib"
		if [[ -z ${best[$t]:-} ]] || awk -v a="$secs" -v b="${best[$t]}" 'BEGIN { exit !(a < b) }'; then
			best[$t]=$secs
		fi
		if [[ -z ${rss[$t]:-} ]] || ((kib > rss[$t])); then
			rss[$t]=$kib
		fi
	done
done
rm -f "$WORK"/out.*

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(grep -qw sha_ni /proc/cpuinfo && echo SHA-NI || echo no SHA-NI), kernel $(uname -r)"
echo "file:    ${SIZE_MIB} MiB random, $(df -T "$WORK" | awk 'NR == 2 { print $2 }') at $WORK; $tar_note"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
# Lower bound for any tool that computes the layer digest: sha256 alone, at
# the speed openssl reaches on this CPU (1 MiB blocks, data in cache).
kbps=$(openssl speed -bytes 1048576 -seconds 1 sha256 2>/dev/null | awk '$1 == "sha256" { sub(/k$/, "", $2); print $2 }')
if [[ -n $kbps ]]; then
	echo "sha256:  $(awk -v k="$kbps" 'BEGIN { printf "%.0f", k / 1024 }') MiB/s (openssl speed), so hashing ${SIZE_MIB} MiB alone takes $(awk -v k="$kbps" -v m="$SIZE_MIB" 'BEGIN { printf "%.3f", m * 1024 / k }') s"
fi
echo "best of $RUNS runs (seconds, max RSS over all runs):"
for t in "${tools[@]}"; do
	printf '  %-9s %6s s  %7d KiB  %s\n' "$t" "${best[$t]}" "${rss[$t]}" "$(cmd_for "$t" | sed "s|$CAPSLAYER|capslayer|; s|$WORK|\$WORK|g")"
done
echo

fail=0
verdict() { # verdict OK DESCRIPTION
	if [[ $1 == 1 ]]; then echo "PASS  $2"; else echo "FAIL  $2"; fail=1; fi
}
slower=$(awk -v a="${best[cp]}" -v b="${best[openssl]}" 'BEGIN { print (a > b) ? a : b }')
ratio=$(awk -v c="${best[capslayer]}" -v s="$slower" 'BEGIN { printf "%.2f", c / s }')
verdict "$(awk -v r="$ratio" -v m="$RATIO_MAX" 'BEGIN { print (r <= m) ? 1 : 0 }')" \
	"capslayer / max(cp, openssl) = ${best[capslayer]} / $slower = $ratio (target <= $RATIO_MAX)"
tratio=$(awk -v c="${best[capslayer]}" -v t="${best[tar]}" 'BEGIN { printf "%.2f", c / t }')
verdict "$(awk -v c="${best[capslayer]}" -v t="${best[tar]}" 'BEGIN { print (c < t) ? 1 : 0 }')" \
	"capslayer / GNU tar = ${best[capslayer]} / ${best[tar]} = $tratio (target < 1)"
verdict "$((rss[capslayer] <= RSS_MAX_KIB ? 1 : 0))" \
	"capslayer max RSS = ${rss[capslayer]} KiB (target <= $RSS_MAX_KIB KiB)"
exit $fail
