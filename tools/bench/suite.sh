#!/usr/bin/env bash
# The benchmark suite of capslayer: one command, one run, every number of
# docs/benchmarks.md.
#
#   tools/bench/suite.sh > results.md          (from the repository root)
#
# What it measures (best wall time of RUNS interleaved runs, the CPU time of
# that run, the maximum RSS over all runs, and output sizes):
#   A. `capslayer layer` (uncompressed, with digest: --print-digest; and
#      without, as caps_layer runs it, the file copied by the kernel)
#      against cp, openssl dgst -sha256 and GNU tar --xattrs -cf, for each
#      size in SIZES_MIB;
#   B. `capslayer layer` gzip and zstd against gzip -6, pigz -6 and zstd -3
#      (time and size), for each size in COMPRESS_SIZES_MIB;
#   C. layers of 1, 100, 1000 ... files (FILE_COUNTS) sharing FILES_TOTAL_MIB,
#      against GNU tar of the same directory.
# and checks the targets (docs/benchmarks.md says where they come from):
#   1. uncompressed, with digest: capslayer <= 1.3 x the slower of cp and
#      openssl;
#   2. uncompressed, without digest (GNU tar hashes nothing either):
#      capslayer faster than GNU tar --xattrs -cf;
#   3. gzip: capslayer at least as fast as gzip -6 with output <= 1 % larger,
#      or faster with a documented trade-off (reported as TRADE, not a miss);
#   4. max RSS of capslayer <= 32 MiB, in every case.
#
# Input: real executable code, not random bytes, so that the compression
# numbers mean something: the regular files over 64 KiB under /usr/lib,
# /usr/bin, /usr/libexec and /usr/sbin concatenated in byte order of their
# names (repeated if /usr holds less than the size asked for).
#
# Environment (all optional):
#   SIZES_MIB           file sizes for A                    (default "64 512 2048")
#   COMPRESS_SIZES_MIB  file sizes for B                    (default "64 512")
#   FILE_COUNTS         file counts for C                   (default "1 100 1000")
#   FILES_TOTAL_MIB     total size of the files of C        (default 64)
#   RUNS                runs per tool and case              (default 3)
#   WORK                scratch directory, on the file system to measure
#                       (default: mktemp -d under TMPDIR, removed afterwards)
#   CAPSLAYER           capslayer binary (default: go build ./capslayer)
#   SKIP_TARGETS=1      exit 0 even when a target is missed
#
# Progress goes to stderr; the report (Markdown) goes to stdout. Every tool
# reads the same input from the page cache (read once before timing) and
# writes to WORK; each run is preceded by `sync` so that one tool's dirty
# pages are not flushed on another's clock. Exit status: 0 when every
# target is met, 1 when one is missed, 2 when a tool is missing.
#
# The full run (defaults) took 245 s on an idle 2-core VM (gzip -6 on
# 512 MiB is most of it) and needs about 3 x 2 GiB free in WORK; quick run:
#   SIZES_MIB=64 COMPRESS_SIZES_MIB=64 FILE_COUNTS="1 100" RUNS=1 tools/bench/suite.sh
set -euo pipefail

SIZES_MIB=${SIZES_MIB:-64 512 2048}
COMPRESS_SIZES_MIB=${COMPRESS_SIZES_MIB:-64 512}
FILE_COUNTS=${FILE_COUNTS:-1 100 1000}
FILES_TOTAL_MIB=${FILES_TOTAL_MIB:-64}
RUNS=${RUNS:-3}
readonly RATIO_MAX=1.3 GZIP_SIZE_MAX=1.01 RSS_MAX_KIB=$((32 * 1024))

die() {
	echo "suite.sh: $*" >&2
	exit 2
}
log() { echo "suite.sh: $*" >&2; }

for tool in /usr/bin/time openssl tar cp gzip pigz zstd awk sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is required (Debian: apt-get install time openssl tar gzip pigz zstd)"
done
tar --version | head -1 | grep -q 'GNU tar' || die "tar is not GNU tar"
for n in $SIZES_MIB $COMPRESS_SIZES_MIB $FILE_COUNTS $FILES_TOTAL_MIB $RUNS; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "sizes, counts and RUNS must be positive integers, not '$n'"
done

own_work='' own_bin=''
if [[ -z ${WORK:-} ]]; then
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/capslayer-bench.XXXXXX")
	own_work=1
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	rm -rf "$WORK"/in "$WORK"/out "$WORK"/files "$WORK"/corpus.list "$WORK"/time.txt
	[[ -n $own_bin ]] && rm -f "$CAPSLAYER"
	[[ -n $own_work ]] && rm -rf "$WORK"
	return 0
}
trap cleanup EXIT
mkdir -p "$WORK/in" "$WORK/out"

if [[ -z ${CAPSLAYER:-} ]]; then
	CAPSLAYER=$WORK/capslayer
	own_bin=1
	log "building capslayer"
	CGO_ENABLED=0 go build -trimpath -o "$CAPSLAYER" ./capslayer
fi
[[ -x $CAPSLAYER ]] || die "CAPSLAYER=$CAPSLAYER is not an executable"

# ---------------------------------------------------------------------------
# Input.

find /usr/lib /usr/bin /usr/libexec /usr/sbin -xdev -type f -size +64k -readable -print0 2>/dev/null |
	LC_ALL=C sort -z >"$WORK/corpus.list"
corpus_bytes=$(xargs -0 stat -c %s <"$WORK/corpus.list" | awk '{ s += $1 } END { printf "%d\n", s }')
((corpus_bytes > 0)) || die "found no input files under /usr"

# make_input FILE MIB writes MIB MiB of corpus to FILE.
make_input() {
	local file=$1 bytes=$(($2 << 20))
	local reps=$(((bytes + corpus_bytes - 1) / corpus_bytes))
	(
		set +o pipefail
		for ((i = 0; i < reps; i++)); do
			xargs -0 cat <"$WORK/corpus.list" 2>/dev/null
		done | head -c "$bytes" >"$file"
	)
	[[ $(stat -c %s "$file") == "$bytes" ]] || die "could not write $bytes bytes to $file"
}

# If we can, the input carries a capability too, so that tar --xattrs has one
# to archive, like capslayer.
tar_note="inputs carry security.capability (setcap), archived by tar --xattrs"
give_cap() {
	if ! setcap cap_net_bind_service=ep "$1" 2>/dev/null; then
		tar_note="inputs carry no xattr (setcap failed: not root?)"
	fi
}

# ---------------------------------------------------------------------------
# Measuring.

declare -A best cpu rss size
now_ns() { date +%s%N; }

# measure KEY COMMAND... runs COMMAND once and folds wall time, CPU time
# (user + sys), max RSS and the size of $WORK/out/result (if any) into the
# entries for KEY: the best wall time, the CPU time of that run, the largest
# RSS of all runs.
measure() {
	local key=$1
	shift
	rm -rf "$WORK/out" && mkdir "$WORK/out"
	sync
	local start end secs line
	start=$(now_ns)
	/usr/bin/time -f '%U %S %M' -o "$WORK/time.txt" "$@" >/dev/null
	end=$(now_ns)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	line=$(tail -n 1 "$WORK/time.txt")
	read -r u s m <<<"$line"
	log "$(printf '%-28s %8s s wall %7.2f s cpu %8d KiB' "$key" "$secs" "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" "$m")"
	if [[ -z ${best[$key]:-} ]] || awk -v a="$secs" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; then
		best[$key]=$secs
		cpu[$key]=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	fi
	if [[ -z ${rss[$key]:-} ]] || ((m > rss[$key])); then
		rss[$key]=$m
	fi
	if [[ -f $WORK/out/result ]]; then
		size[$key]=$(stat -c %s "$WORK/out/result")
	fi
	rm -rf "$WORK/out" && mkdir "$WORK/out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
mibps() { awk -v mib="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? mib / s : 0 }'; }
mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
max_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }

fail=0
verdicts=()
verdict() { # verdict OK TEXT
	if [[ $1 == 1 ]]; then
		verdicts+=("PASS  $2")
	else
		verdicts+=("FAIL  $2")
		fail=1
	fi
}
capslayer_rss_max=0
note_capslayer_rss() {
	((rss[$1] > capslayer_rss_max)) && capslayer_rss_max=${rss[$1]}
	return 0
}

started=$SECONDS
cl=$CAPSLAYER
caps=(--path /app/big --caps cap_net_bind_service=ep --mtime 0)

# ---------------------------------------------------------------------------
# A. Uncompressed, by file size.

for mib in $SIZES_MIB; do
	in=$WORK/in/big.bin
	log "A: writing a $mib MiB input"
	make_input "$in" "$mib"
	give_cap "$in"
	cat "$in" >/dev/null
	for ((r = 1; r <= RUNS; r++)); do
		measure "A/$mib/capslayer" "$cl" layer --binary "$in" "${caps[@]}" --output "$WORK/out/result" --compression none --print-digest
		measure "A/$mib/capslayer-nodigest" "$cl" layer --binary "$in" "${caps[@]}" --output "$WORK/out/result" --compression none
		measure "A/$mib/cp" cp "$in" "$WORK/out/result"
		measure "A/$mib/openssl" openssl dgst -sha256 "$in"
		measure "A/$mib/tar" tar --xattrs --xattrs-include=security.capability -cf "$WORK/out/result" -C "$WORK/in" big.bin
	done
	rm -f "$in"
	note_capslayer_rss "A/$mib/capslayer"
	note_capslayer_rss "A/$mib/capslayer-nodigest"
done

# ---------------------------------------------------------------------------
# B. Compressed, by file size.

for mib in $COMPRESS_SIZES_MIB; do
	in=$WORK/in/big.bin
	log "B: writing a $mib MiB input"
	make_input "$in" "$mib"
	cat "$in" >/dev/null
	for ((r = 1; r <= RUNS; r++)); do
		measure "B/$mib/capslayer gzip" "$cl" layer --binary "$in" "${caps[@]}" --output "$WORK/out/result" --compression gzip --print-digest
		# shellcheck disable=SC2016 # the inner shell expands them
		measure "B/$mib/gzip -6" bash -c 'exec "$@" >"$0"' "$WORK/out/result" gzip -6 -n -c "$in"
		# shellcheck disable=SC2016
		measure "B/$mib/pigz -6" bash -c 'exec "$@" >"$0"' "$WORK/out/result" pigz -6 -n -c "$in"
		measure "B/$mib/capslayer zstd" "$cl" layer --binary "$in" "${caps[@]}" --output "$WORK/out/result" --compression zstd --print-digest
		measure "B/$mib/zstd -3" zstd -3 -q -T1 -c "$in" -o "$WORK/out/result"
		measure "B/$mib/zstd -3 -T0" zstd -3 -q -T0 -c "$in" -o "$WORK/out/result"
	done
	rm -f "$in"
	note_capslayer_rss "B/$mib/capslayer gzip"
	note_capslayer_rss "B/$mib/capslayer zstd"
done

# ---------------------------------------------------------------------------
# C. Many files, same total size.

max_count=0
for n in $FILE_COUNTS; do ((n > max_count)) && max_count=$n; done
log "C: writing a $FILES_TOTAL_MIB MiB input"
make_input "$WORK/in/all.bin" "$FILES_TOTAL_MIB"
for n in $FILE_COUNTS; do
	dir=$WORK/files/d
	rm -rf "$WORK/files" && mkdir -p "$dir"
	# Split all.bin into n files of (nearly) equal size, named f0000...
	per=$((((FILES_TOTAL_MIB << 20) + n - 1) / n))
	split -a 5 -d -b "$per" "$WORK/in/all.bin" "$dir/f"
	specs=()
	for f in "$dir"/f*; do
		specs+=(--file "/app/data/${f##*/}=$f:cap_net_bind_service=ep")
		give_cap "$f"
	done
	cat "$dir"/f* >/dev/null
	for ((r = 1; r <= RUNS; r++)); do
		measure "C/$n/capslayer" "$cl" layer "${specs[@]}" --mtime 0 --output "$WORK/out/result" --compression none --print-digest
		measure "C/$n/tar" tar --xattrs --xattrs-include=security.capability -cf "$WORK/out/result" -C "$WORK/files" d
	done
	note_capslayer_rss "C/$n/capslayer"
done
rm -rf "$WORK/files" "$WORK/in/all.bin"

# ---------------------------------------------------------------------------
# Report.

elapsed=$((SECONDS - started))
cat <<EOF
## Results

- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(grep -qw sha_ni /proc/cpuinfo && echo SHA-NI || echo no SHA-NI), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)
- scratch: $(df -T "$WORK" | awk 'NR == 2 { print $2 }') at \$WORK; $tar_note
- source: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- capslayer go.mod go.sum 2>/dev/null || echo ' + local changes in capslayer/')
- tools: $("$cl" version), $(tar --version | head -1), $(gzip --version | head -1), pigz $(pigz --version 2>&1 | awk '{ print $2 }'), zstd $(zstd -V | grep -o 'v[0-9.]*' | head -1), $(openssl version | cut -d' ' -f1-2)
- runs: best wall time of $RUNS; CPU = user + sys of that run; RSS = largest of all runs
- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); suite took $elapsed s
- command: \`SIZES_MIB="$SIZES_MIB" COMPRESS_SIZES_MIB="$COMPRESS_SIZES_MIB" FILE_COUNTS="$FILE_COUNTS" FILES_TOTAL_MIB=$FILES_TOTAL_MIB RUNS=$RUNS tools/bench/suite.sh\`

### A. Uncompressed layer of one file, against cp, openssl and GNU tar

"capslayer" hashes while writing (\`--print-digest\`); "no digest" is
\`capslayer layer\` without \`--descriptor\` or \`--print-digest\`, as
caps_layer runs it: the file's contents copied by the kernel.

| size | capslayer | no digest | cp | openssl dgst -sha256 | tar --xattrs -cf | capslayer / max(cp, openssl) | no digest / cp | no digest / tar | capslayer MiB/s | capslayer CPU | capslayer RSS |
|---|---|---|---|---|---|---|---|---|---|---|---|
EOF
for mib in $SIZES_MIB; do
	c=${best[A/$mib/capslayer]} n=${best[A/$mib/capslayer-nodigest]} p=${best[A/$mib/cp]} o=${best[A/$mib/openssl]} t=${best[A/$mib/tar]}
	slower=$(max_of "$p" "$o")
	printf '| %s MiB | %s s | %s s | %s s | %s s | %s s | **%s** | %s | **%s** | %s | %s s | %s MiB |\n' \
		"$mib" "$c" "$n" "$p" "$o" "$t" "$(ratio "$c" "$slower")" "$(ratio "$n" "$p")" "$(ratio "$n" "$t")" "$(mibps "$mib" "$c")" \
		"${cpu[A/$mib/capslayer]}" "$(mib_of_kib "${rss[A/$mib/capslayer]}")"
	verdict "$(awk -v r="$(ratio "$c" "$slower")" -v m="$RATIO_MAX" 'BEGIN { print (r <= m) ? 1 : 0 }')" \
		"$mib MiB: capslayer / max(cp, openssl) = $c / $slower = $(ratio "$c" "$slower") (target <= $RATIO_MAX)"
	verdict "$(awk -v c="$n" -v t="$t" 'BEGIN { print (c < t) ? 1 : 0 }')" \
		"$mib MiB: capslayer without digest / GNU tar = $n / $t = $(ratio "$n" "$t") (target < 1)"
done
echo
echo "CPU time (user + sys) of the same runs:"
echo
echo "| size | capslayer | no digest | cp | openssl | tar |"
echo "|---|---|---|---|---|---|"
for mib in $SIZES_MIB; do
	printf '| %s MiB | %s s | %s s | %s s | %s s | %s s |\n' "$mib" "${cpu[A/$mib/capslayer]}" "${cpu[A/$mib/capslayer-nodigest]}" "${cpu[A/$mib/cp]}" "${cpu[A/$mib/openssl]}" "${cpu[A/$mib/tar]}"
done

cat <<EOF

### B. Compressed layers, against gzip -6, pigz -6 and zstd -3

Sizes are relative to the input; "vs" compares with the reference tool of the
same format (gzip -6 for gzip, zstd -3 -T1 for zstd).

| size | tool | wall | CPU | RSS | output | output / input | time vs | size vs |
|---|---|---|---|---|---|---|---|---|
EOF
for mib in $COMPRESS_SIZES_MIB; do
	for t in "capslayer gzip" "gzip -6" "pigz -6" "capslayer zstd" "zstd -3" "zstd -3 -T0"; do
		k="B/$mib/$t"
		case $t in
		*gzip* | pigz*) ref="B/$mib/gzip -6" ;;
		*) ref="B/$mib/zstd -3" ;;
		esac
		printf '| %s MiB | %s | %s s | %s s | %s MiB | %s MiB | %s | %s | %s |\n' "$mib" "$t" "${best[$k]}" "${cpu[$k]}" \
			"$(mib_of_kib "${rss[$k]}")" "$(awk -v b="${size[$k]}" 'BEGIN { printf "%.1f", b / 1048576 }')" \
			"$(awk -v b="${size[$k]}" -v m="$mib" 'BEGIN { printf "%.3f", b / (m * 1048576) }')" \
			"$(ratio "${best[$k]}" "${best[$ref]}")" \
			"$(awk -v a="${size[$k]}" -v b="${size[$ref]}" 'BEGIN { printf "%.4f", a / b }')"
	done
	g=${best[B/$mib/capslayer gzip]} r=${best[B/$mib/gzip -6]}
	sr=$(awk -v a="${size[B/$mib/capslayer gzip]}" -v b="${size[B/$mib/gzip -6]}" 'BEGIN { printf "%.4f", a / b }')
	gtext="$mib MiB: capslayer gzip / gzip -6: time $g / $r = $(ratio "$g" "$r") (target <= 1), size $sr (target <= $GZIP_SIZE_MAX)"
	if awk -v g="$g" -v r="$r" 'BEGIN { exit !(g > r) }'; then
		verdict 0 "$gtext"
	elif awk -v s="$sr" -v m="$GZIP_SIZE_MAX" 'BEGIN { exit !(s > m) }'; then
		# The target allows a larger output when capslayer is faster and
		# the trade-off is documented (docs/benchmarks.md).
		verdicts+=("TRADE $gtext: faster but larger, see docs/benchmarks.md")
	else
		verdict 1 "$gtext"
	fi
done

cat <<EOF

### C. Number of files ($FILES_TOTAL_MIB MiB in total, split evenly)

| files | capslayer | tar --xattrs -cf | capslayer / tar | capslayer per file | capslayer CPU | capslayer RSS | layer size |
|---|---|---|---|---|---|---|---|
EOF
for n in $FILE_COUNTS; do
	c=${best[C/$n/capslayer]} t=${best[C/$n/tar]}
	printf '| %s | %s s | %s s | %s | %s ms | %s s | %s MiB | %s MiB |\n' "$n" "$c" "$t" "$(ratio "$c" "$t")" \
		"$(awk -v c="$c" -v n="$n" 'BEGIN { printf "%.2f", c * 1000 / n }')" "${cpu[C/$n/capslayer]}" \
		"$(mib_of_kib "${rss[C/$n/capslayer]}")" "$(awk -v b="${size[C/$n/capslayer]:-0}" 'BEGIN { printf "%.2f", b / 1048576 }')"
done

verdict "$((capslayer_rss_max <= RSS_MAX_KIB ? 1 : 0))" \
	"capslayer max RSS over every case = $capslayer_rss_max KiB (target <= $RSS_MAX_KIB KiB)"

echo
echo "### Targets"
echo
echo '```'
printf '%s\n' "${verdicts[@]}"
echo '```'

if [[ ${SKIP_TARGETS:-0} == 1 ]]; then
	exit 0
fi
exit "$fail"
