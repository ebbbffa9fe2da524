#!/usr/bin/env bash
# Checks that //capslayer, built through a platform transition, is a darwin
# arm64 Mach-O and a windows amd64 PE executable: the bytes of the headers, as
# the kernels that load them read them.
set -euo pipefail
darwin=$1 windows=$2

# hex OFFSET COUNT FILE prints COUNT bytes at OFFSET as lower-case hex.
hex() { od -An -tx1 -j "$1" -N "$2" "$3" | tr -d ' \n'; }

fail=0
# Mach-O 64-bit: magic 0xfeedfacf, then cputype CPU_TYPE_ARM64 (0x0100000c),
# both little-endian.
got=$(hex 0 8 "$darwin")
if [[ $got == cffaedfe0c000001 ]]; then
  echo "PASS $darwin: Mach-O 64-bit arm64"
else
  echo "FAIL $darwin: want Mach-O arm64 header cffaedfe0c000001, got $got"
  fail=1
fi
# PE: "MZ", the PE header's offset at 0x3c, there "PE\0\0" and the machine
# IMAGE_FILE_MACHINE_AMD64 (0x8664, little-endian).
pe=$((16#$(hex 0x3c 4 "$windows" | sed -E 's/(..)(..)(..)(..)/\4\3\2\1/')))
got="$(hex 0 2 "$windows") $(hex "$pe" 6 "$windows")"
if [[ $got == "4d5a 504500006486" ]]; then
  echo "PASS $windows: PE amd64"
else
  echo "FAIL $windows: want MZ and PE amd64 (4d5a 504500006486), got $got"
  fail=1
fi
exit "$fail"
