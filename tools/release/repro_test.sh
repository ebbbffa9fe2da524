#!/usr/bin/env bash
# tools/release/repro_test.sh [--version V] [--keep DIR]: builds the release
# twice and fails unless every file is byte-identical. The second build gets
# an empty Go build cache and another temporary tree, so nothing is shared
# between the two but the sources and the Go toolchain.
#
# Prints the integrity of the archive and each build's time. Measured here
# (2 shared cores, 7 jobs): see docs in tools/release/build.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
version=0.0.0-repro keep=''
while (($#)); do
  case $1 in
    --version) version=$2 && shift 2 ;;
    --keep) keep=$2 && shift 2 ;;
    *)
      echo "usage: tools/release/repro_test.sh [--version V] [--keep DIR]" >&2
      exit 2
      ;;
  esac
done
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

start=$SECONDS
"$here/build.sh" --version "$version" --out "$tmp/a" >/dev/null
first=$((SECONDS - start))
start=$SECONDS
GOCACHE=$tmp/gocache TMPDIR=$tmp "$here/build.sh" --version "$version" --out "$tmp/b" >/dev/null
second=$((SECONDS - start))

status=0
for f in "$tmp"/a/*; do
  name=${f##*/}
  if cmp -s "$f" "$tmp/b/$name"; then
    printf 'PASS  %s identical (%s)\n' "$name" "$(sha256sum <"$f" | cut -c1-16)"
  else
    printf 'FAIL  %s differs between the two builds\n' "$name"
    status=1
  fi
done
[[ $(ls "$tmp/a") == "$(ls "$tmp/b")" ]] || {
  echo "FAIL  the two builds wrote different files"
  status=1
}
printf 'TIME  build 1 (warm Go cache): %d s; build 2 (empty Go cache): %d s\n' "$first" "$second"
printf 'archive integrity: %s\n' "$(<"$tmp/a/integrity.txt")"
if [[ -n $keep ]]; then
  mkdir -p "$keep"
  cp -a "$tmp/a/." "$keep/"
fi
exit "$status"
