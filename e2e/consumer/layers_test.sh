#!/usr/bin/env bash
# capslayer inspect reads the capabilities each layer was asked for, and each
# file in a layer has the bytes of the file that was packed.
set -euo pipefail
capslayer=$1 cc_layer=$2 prebuilt_layer=$3 hello=$4 probe=$5

fail=0
# expect_caps LAYER PATH CAPS: inspect lists PATH with CAPS.
expect_caps() {
  local got
  got=$("$capslayer" inspect "$1" | awk -v p="$2" '$2 == p { print $3 }')
  if [[ $got == "$3" ]]; then
    echo "PASS $1: $2 has $3"
  else
    echo "FAIL $1: $2 should have $3, inspect says '${got:-<not listed>}'"
    "$capslayer" inspect "$1" || true
    fail=1
  fi
}
# expect_bytes LAYER PATH FILE: the entry PATH of LAYER has FILE's bytes.
expect_bytes() {
  if tar -xOf "$1" "${2#/}" | cmp -s - "$3"; then
    echo "PASS $1: $2 has the bytes of $3"
  else
    echo "FAIL $1: $2 differs from $3"
    fail=1
  fi
}

"$capslayer" version
expect_caps "$cc_layer" /app/hello cap_net_bind_service=ep
expect_bytes "$cc_layer" /app/hello "$hello"
expect_caps "$prebuilt_layer" /usr/local/bin/probe cap_net_raw=p
expect_bytes "$prebuilt_layer" /usr/local/bin/probe "$probe"
expect_bytes "$prebuilt_layer" /usr/bin/hello "$hello"
if "$capslayer" inspect "$prebuilt_layer" | awk '$2 == "/usr/bin/hello"' | grep -q cap_; then
  echo "FAIL $prebuilt_layer: /usr/bin/hello should carry no capabilities"
  fail=1
fi
exit "$fail"
