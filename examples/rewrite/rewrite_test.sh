#!/usr/bin/env bash
# Proves caps_layer(tars = ..., file_caps = ...) on the output of other rules
# with tools independent of capslayer: for each (input tar, layer, path,
# capability) given,
#  - GNU tar lists the same entries in both (type, mode, owner, size, mtime,
#    name, link target): nothing added, dropped or changed in its header;
#  - extracted without xattrs, both trees are identical (every member's bytes);
#  - extracted with --xattrs as root, getcap finds the capability on the named
#    file and on no other file, and none in the input.
# Needs root (to set security.capability), GNU tar, getcap, zstd; skips with a
# message otherwise (and fails under CI=true).
#
# Usage: rewrite_test.sh (IN LAYER PATH CAPS)...
set -euo pipefail

tmp=${TEST_TMPDIR:-$(mktemp -d)}
skip() {
  if [ "${CI:-}" = true ]; then echo "FAIL: $* (CI=true: the test must run)" >&2; exit 1; fi
  echo "SKIP: $*"; exit 0
}
[ "$(id -u)" -eq 0 ] || skip "not root: cannot set security.capability"
for tool in getcap setcap zstd; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
tar --version 2>/dev/null | grep -q 'GNU tar' || skip "GNU tar not installed"
probe="$tmp/probe"
cp "$(command -v getcap)" "$probe"
setcap cap_chown=p "$probe" 2>/dev/null || skip "cannot set file capabilities under $tmp"

failures=0 passed=0
expect() { # expect WHAT GOT WANT
  if [ "$2" = "$3" ]; then
    echo "PASS: $1: $(head -c 200 <<<"$2")"
    passed=$((passed + 1))
  else
    echo "FAIL: $1: got \"$2\", want \"$3\"" >&2
    failures=$((failures + 1))
  fi
}
listing() { tar --numeric-owner --full-time -tvf "$1"; }

n=0
while [ $# -ge 4 ]; do
  in=$1 layer=$2 path=$3 want=$4
  shift 4
  n=$((n + 1))
  what="$(basename "$in") -> $(basename "$layer")"
  entries=$(listing "$in" | wc -l)
  expect "$what: entries" "$( ((entries > 3)) && echo "$entries entries")" "$entries entries"
  expect "$what: tar -tvf listing unchanged" "$(listing "$layer")" "$(listing "$in")"

  a="$tmp/$n/in" b="$tmp/$n/plain" c="$tmp/$n/xattrs" d="$tmp/$n/in-xattrs"
  mkdir -p "$a" "$b" "$c" "$d"
  tar --same-owner -xpf "$in" -C "$a"
  tar --same-owner -xpf "$layer" -C "$b"
  expect "$what: every member's bytes, modes, owners and symlinks unchanged" \
    "$(diff -r --no-dereference "$a" "$b" && cd "$a" && find . -printf '%y %m %U:%G %s %l %p\n' | sort | sha256sum)" \
    "$(cd "$b" && find . -printf '%y %m %U:%G %s %l %p\n' | sort | sha256sum)"

  tar --xattrs --xattrs-include='security.capability' --same-owner -xpf "$layer" -C "$c"
  tar --xattrs --xattrs-include='security.capability' --same-owner -xpf "$in" -C "$d"
  expect "$what: getcap -r (only $path)" "$(cd "$c" && getcap -r . | sed 's|^\./|/|')" "$path $want"
  expect "$what: getcap -r of the input (none)" "$(cd "$d" && getcap -r .)" ""
done
[ $# -eq 0 ] || { echo "FAIL: arguments come in fours: IN LAYER PATH CAPS" >&2; exit 2; }

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
