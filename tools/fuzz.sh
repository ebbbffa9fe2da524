#!/usr/bin/env bash
# tools/fuzz.sh [DURATION]: run every fuzz target of the repository (found
# with `go test -list '^Fuzz'` in each package that declares one) for
# DURATION each (a go test -fuzztime value: 10s, 30m, 1000000x; default 10s),
# with one worker, one target after the other. It records the executions of
# each target (the last `execs:` line of `go test -fuzz`), its fuzzing
# time and rate in docs/fuzzing.md, and keeps the corpus each run built (go's cache; the
# smallest new entries, up to FUZZ_KEEP_BYTES, 1 MiB, per target) under
# the package's testdata/fuzz/<Target>/, where `go test` replays it as seeds
# and where go writes any crasher. Exits 1 if a target failed.
#
# Each input that reaches new code is minimized before it joins the corpus,
# for at most -fuzzminimizetime (go's default: 60s), and go's `execs:` counts
# fuzzing executions only, not minimizing ones. Early in a run nearly every
# input is new, so with go's default a short run minimizes all the time and
# reports a handful of executions (FuzzRewrite: 9 in 30s; 381786 with
# -fuzzminimizetime 100x). FUZZ_MINIMIZE bounds it (default 1000x: a number
# of executions, the same whatever the machine's load).
#
# No target writes files: the image readers' targets build their layouts,
# archives and bases in an fstest.MapFS (inspect.PathFS, image.Options.FS),
# which made them 2.5-4x faster than writing them under t.TempDir (30 s
# each, docs/fuzzing.md). go's fuzzing workers still exchange their inputs
# through files in TMPDIR: FUZZ_TMPDIR (default /dev/shm when it is a
# writable directory) is the TMPDIR of the fuzzing runs.
set -euo pipefail
dur="${1:-10s}"
minimize="${FUZZ_MINIMIZE:-1000x}"
fuzz_tmp="${FUZZ_TMPDIR:-}"
if [ -z "$fuzz_tmp" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then fuzz_tmp=/dev/shm; fi
fuzz_tmp="${fuzz_tmp:-${TMPDIR:-/tmp}}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="$(go env GOCACHE)/fuzz"
doc=docs/fuzzing.md
rows=""
failed=0
for dir in $(grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . | grep -v '^./third_party/' | xargs -n1 dirname | sort -u); do
  pkg="$(go list "$dir")"
  for target in $(go test -list '^Fuzz' "$dir" | grep '^Fuzz' || true); do
    log="$(mktemp)"
    echo "== $pkg $target ($dur)" >&2
    result=ok
    if ! TMPDIR="$fuzz_tmp" go test -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" -fuzzminimizetime "$minimize" -parallel 1 -timeout 0 "$dir" >"$log" 2>&1; then
      result="FAIL (crasher under ${dir#./}/testdata/fuzz/$target)"
      failed=1
      tail -20 "$log" >&2
    fi
    # The last progress line: "fuzz: elapsed: 13m29s, execs: 10000000 (12345/sec), ...".
    last="$(grep -E '^fuzz: elapsed: [0-9hms.]+, execs: [0-9]+' "$log" | tail -1 || true)"
    rm -f "$log"
    elapsed="$(sed -E 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/' <<<"$last")"
    execs="$(sed -E 's/.*execs: ([0-9]+).*/\1/' <<<"$last")"
    # elapsed is a Go duration (1h2m3s): its seconds, then the mean rate.
    secs="$(awk -v d="$elapsed" 'BEGIN { s = 0; while (match(d, /^[0-9.]+[hms]/)) { n = substr(d, 1, RLENGTH - 1); u = substr(d, RLENGTH, 1); s += n * (u == "h" ? 3600 : u == "m" ? 60 : 1); d = substr(d, RLENGTH + 1) } print s }')"
    rate="$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { if (s > 0) printf "%d/s", n / s; else print "-" }')"
    if [ -d "$cache/$pkg/$target" ]; then
      # The new entries, smallest first, up to FUZZ_KEEP_BYTES (1 MiB) per
      # target and run: layouts and images are 10-35 KB an entry, and the
      # repository keeps no large blobs.
      mkdir -p "$dir/testdata/fuzz/$target"
      kept=0
      while read -r size entry; do
        [ -e "$dir/testdata/fuzz/$target/${entry##*/}" ] && continue
        [ $((kept + size)) -gt "${FUZZ_KEEP_BYTES:-1048576}" ] && break
        cp "$entry" "$dir/testdata/fuzz/$target/"
        kept=$((kept + size))
      done < <(find "$cache/$pkg/$target" -maxdepth 1 -type f -printf '%s %p\n' | LC_ALL=C sort -n -k1,1 -k2,2)
    fi
    corpus="$( (ls "$dir/testdata/fuzz/$target" 2>/dev/null || true) | wc -l)"
    rows+="| \`$target\` | \`${pkg#github.com/capslayer/rules_capslayer/}\` | ${execs:-0} | ${elapsed:--} | $rate | $corpus | $result |"$'\n'
  done
done
# Only the section between the markers is rewritten: the rest of the file is
# written by hand.
begin='<!-- fuzz.sh:begin -->'
end='<!-- fuzz.sh:end -->'
if ! grep -qxF "$begin" "$doc" || ! grep -qxF "$end" "$doc"; then
  echo "$doc has no '$begin' ... '$end' section to rewrite; add the two lines where the table goes" >&2
  exit 2
fi
section="$(mktemp)"
{
  echo "$begin"
  echo "Written by \`tools/fuzz.sh $dur\` on $(date -u +%F) at commit $(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD || echo ' plus uncommitted changes')"
  echo "($(go env GOVERSION), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown) at the end; one worker per target, one target"
  echo "at a time, new inputs minimized for at most $minimize)."
  echo
  echo "| target | package | executions | time | rate | corpus entries | result |"
  echo "|---|---|---:|---:|---:|---:|---|"
  printf '%s' "$rows"
  echo "$end"
} >"$section"
awk -v begin="$begin" -v end="$end" -v section="$section" '
  $0 == begin { while ((getline line < section) > 0) print line; skip = 1; next }
  $0 == end { skip = 0; next }
  !skip { print }
' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"
rm -f "$section"
echo "wrote the generated section of $doc" >&2
exit "$failed"
