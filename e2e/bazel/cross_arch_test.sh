#!/usr/bin/env bash
# //examples/cross builds one go_binary into an amd64 and an arm64 layer via
# caps_layer(platform = ...). Check the ELF machine of each binary in its layer
# (e_machine at offset 18: 0x3e = x86-64, 0xb7 = AArch64) and that both carry
# the capability record.
#
# Also: on an amd64 host, the amd64 layer built through the transition is
# byte-identical to //examples/hello:hello_layer built without it.
#
# Usage: cross_arch_test.sh AMD64_LAYER ARM64_LAYER HOST_LAYER
set -euo pipefail

amd64_layer=$1 arm64_layer=$2 host_layer=$3
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
machine() { tar -xOf "$1" app/hello | od -An -j18 -N2 -tx1 | tr -d ' \n'; }
elf_class() { tar -xOf "$1" app/hello | od -An -N5 -c | tr -d ' \n'; }

expect "amd64 ELF" "$(elf_class "$amd64_layer")" '177ELF002'
expect "amd64 e_machine" "$(machine "$amd64_layer")" "3e00"
expect "arm64 ELF" "$(elf_class "$arm64_layer")" '177ELF002'
expect "arm64 e_machine" "$(machine "$arm64_layer")" "b700"

# Both layers carry the same 20-byte v2 record for cap_net_bind_service=ep.
for layer in "$amd64_layer" "$arm64_layer"; do
  expect "$(basename "$layer") xattr" \
    "$(tar --xattrs --xattrs-include='*' -tvvvf "$layer" | grep -c '  x: 20 security.capability')" "1"
done
if cmp -s "$amd64_layer" "$arm64_layer"; then
  echo "FAIL: the amd64 and arm64 layers are identical" >&2
  failures=$((failures + 1))
fi

if [ "$(uname -m)" = x86_64 ]; then
  if cmp -s "$amd64_layer" "$host_layer"; then
    echo "PASS: the transitioned amd64 layer equals the host build's"
    passed=$((passed + 1))
  else
    echo "FAIL: $amd64_layer differs from $host_layer although both are amd64" >&2
    failures=$((failures + 1))
  fi
fi

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
