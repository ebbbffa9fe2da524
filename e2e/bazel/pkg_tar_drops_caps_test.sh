#!/usr/bin/env bash
# Pins a pitfall that docs/rules.md warns about: re-packing a caps_layer with
# pkg_tar(deps = [...]) keeps the file but loses its capability, because
# rules_pkg writes GNU-format tars without PAX records. If rules_pkg ever
# keeps them, this test fails and the docs can drop the warning.
#
# Usage: pkg_tar_drops_caps_test.sh CAPS_LAYER REPACKED
set -euo pipefail

layer=$1 repacked=$2
failures=0 passed=0
expect() {
  if [ "$2" = "$3" ]; then
    echo "PASS: $1: $2"
    passed=$((passed + 1))
  else
    echo "FAIL: $1: got \"$2\", want \"$3\"" >&2
    failures=$((failures + 1))
  fi
}
xattrs() { tar --xattrs --xattrs-include='*' -tvvvf "$1" | grep -c 'x: .* security.capability' || true; }
has() { tar -tf "$1" | grep -cx "$2" || true; }

expect "caps_layer has /app/server" "$(has "$layer" app/server)" 1
expect "caps_layer carries the capability" "$(xattrs "$layer")" 1
expect "pkg_tar copy has /app/server" "$(has "$repacked" '\(\./\)\?app/server')" 1
expect "pkg_tar copy lost the capability" "$(xattrs "$repacked")" 0

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
