#!/usr/bin/env bash
# tools/fuzz.sh [DURATION]: run every fuzz target of the repository (found
# with `go test -list '^Fuzz'` in each package that declares one) for
# DURATION each (a go test -fuzztime value: 10s, 30m, 1000000x; default 10s),
# with one worker, one target after the other. It records the executions of
# each target (the last `execs:` line of `go test -fuzz`) in
# docs/fuzzing.md, and keeps the corpus each run built (go's cache) under
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
# Targets that write their input to files (t.TempDir: FuzzLayout,
# FuzzDockerArchive, FuzzBuild) spend their time in the file system: on this
# VM's ext4 /tmp FuzzLayout ran 1079 executions in 15s, with TMPDIR on tmpfs
# 23588. FUZZ_TMPDIR (default /dev/shm when it is a writable directory) is
# the TMPDIR of the fuzzing runs.
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
    execs="$(grep -o "execs: [0-9]*" "$log" | tail -1 | awk "{print \$2}" || true)"
    rm -f "$log"
    if [ -d "$cache/$pkg/$target" ]; then
      mkdir -p "$dir/testdata/fuzz/$target"
      cp -n "$cache/$pkg/$target"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
    fi
    corpus="$( (ls "$dir/testdata/fuzz/$target" 2>/dev/null || true) | wc -l)"
    rows+="| \`$target\` | \`${pkg#github.com/capslayer/rules_capslayer/}\` | ${execs:-0} | $corpus | $result |"$'\n'
  done
done
{
  echo "# Fuzzing"
  echo
  echo "Written by \`tools/fuzz.sh $dur\` ($(go env GOVERSION), $(nproc) CPUs, one worker per target, one"
  echo "target at a time, new inputs minimized for at most $minimize): the fuzzing executions (not the"
  echo "minimizing ones, which go does not count) of each fuzz target in its last run. \`go test ./...\` replays every"
  echo "corpus entry kept under \`testdata/fuzz/<Target>/\` of the target's package as a regression seed."
  echo
  echo "| target | package | executions | corpus entries | result |"
  echo "|---|---|---:|---:|---|"
  printf '%s' "$rows"
} >"$doc"
echo "wrote $doc" >&2
exit "$failed"
