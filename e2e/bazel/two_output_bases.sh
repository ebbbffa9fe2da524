#!/usr/bin/env bash
# Builds the example layers and images in two fresh output bases and checks
# that every layer, descriptor, image tarball and manifest digest (caps_image's
# <name>.digest) has the same sha256 in both: nothing of the output base path,
# the clock or the Bazel server may reach the bytes.
#
# Not a bazel test (a test cannot run Bazel); run it from CI or by hand:
#
#   e2e/bazel/two_output_bases.sh [TARGET_PATTERN...]   (default: //examples/...)
#
# BAZEL overrides the Bazel command (default: tools/bazel, which brings up
# the offline Bazel when the registries cannot be reached). KEEP=1 keeps the
# output bases for inspection. Costs two cold builds (~5 min each on 2 cores).
set -euo pipefail

# Everything is in main, so that bash parses the whole script before running
# it: an edit of this file during the (long) run cannot derail it.
main() {
  cd "$(dirname "$0")/../.."
  bazel=${BAZEL:-tools/bazel}
  patterns=("$@")
  [ "${#patterns[@]}" -gt 0 ] || patterns=(//examples/...)
  # cquery takes one expression: the union of the patterns.
  query=${patterns[0]}
  for p in "${patterns[@]:1}"; do query="$query + $p"; done

  # Under Bazel's output user root: outside the workspace (so //... never sees
  # the output bases' BUILD files), and at the same path inside the offline
  # chroot and on the host.
  if ! output_base=$("$bazel" info output_base 2>/dev/null) || [ -z "$output_base" ]; then
    echo "FAIL: cannot get the output base from '$bazel info output_base'" >&2
    exit 1
  fi
  work=$(dirname "$output_base")/two-output-bases
  rm -rf "$work"
  mkdir -p "$work"

  cleanup() {
    for b in a b; do
      [ -d "$work/$b" ] && "$bazel" --output_base="$work/$b" shutdown >/dev/null 2>&1 || true
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
  }
  trap cleanup EXIT

  for b in a b; do
    echo "== build in output base $b: ${patterns[*]}" >&2
    start=$SECONDS
    "$bazel" --output_base="$work/$b" build --symlink_prefix=/ "${patterns[@]}"
    echo "== output base $b: $((SECONDS - start)) s" >&2
    execroot=$("$bazel" --output_base="$work/$b" info --symlink_prefix=/ execution_root 2>/dev/null)
    "$bazel" --output_base="$work/$b" cquery --symlink_prefix=/ --output=files \
      --output_groups=default,descriptor,tarball,digest "$query" 2>/dev/null |
      grep -E '\.(tar|tar\.gz|tar\.zst|descriptor\.json|digest)$' | sort >"$work/$b.files"
    while read -r f; do
      # cquery also lists the outputs of `manual` targets, which build skipped
      # (the same ones in both bases).
      [ -e "$execroot/$f" ] || continue
      # Configuration directories differ in name only by the transition hash,
      # which is the same in both bases; print the path as Bazel gave it.
      echo "$(sha256sum <"$execroot/$f" | cut -d' ' -f1)  $f"
    done <"$work/$b.files" >"$work/$b.sums"
  done

  n=$(wc -l <"$work/a.sums")
  if [ "$n" -eq 0 ]; then
    echo "FAIL: no layer found under ${patterns[*]}" >&2
    exit 1
  fi
  if diff -u "$work/a.sums" "$work/b.sums"; then
    cat "$work/a.sums"
    echo "$n passed, 0 failed"
  else
    echo "FAIL: the output bases gave different bytes (diff above)" >&2
    exit 1
  fi
}

main "$@"
