# shellcheck shell=bash
# Shared by the tests of this workspace: PASS/FAIL bookkeeping and a few
# readers. Source it; end the test with `finish`.
set -euo pipefail

failures=0 passed=0
pass() {
  echo "PASS: $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# expect WHAT GOT WANT
expect() {
  if [[ $2 == "$3" ]]; then
    pass "$1: $2"
  else
    fail "$1: got \"$2\", want \"$3\""
  fi
}
finish() {
  echo "$passed passed, $failures failed"
  [[ $failures -eq 0 && $passed -gt 0 ]]
}

# What `setcap cap_net_bind_service=ep` writes (getfattr -e hex): revision 2,
# effective bit, permitted bit 10.
# shellcheck disable=SC2034 # used by the tests that source this file
readonly NET_BIND_EP=0100000200040000000000000000000000000000

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tarcaps() { python3 "$here/tarcaps.py" "$1"; }
# caps_of TAR PATH: the capability hex of PATH's entry ("-" for none, "" if
# there is no such entry).
caps_of() { tarcaps "$1" | awk -v p="$2" '$1 == p || $1 == "./" p { print $3 }'; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Readers of an OCI layout directory (rules_oci's oci_image output).
# manifest_of LAYOUT: the path of the (first) manifest blob.
blob() { printf '%s/blobs/sha256/%s\n' "$1" "${2#sha256:}"; }
manifest_of() { blob "$1" "$(jq -r '.manifests[0].digest' "$1/index.json")"; }
config_of() { blob "$1" "$(jq -r '.config.digest' "$(manifest_of "$1")")"; }

# unpack_getcap LAYOUT DIR PATH: umoci-unpacks the layout into DIR (as root,
# so security.capability is written to disk) and prints `getcap` of PATH.
# rules_oci writes no ref name into index.json; umoci needs one, so a copy
# gets "latest".
unpack_getcap() {
  local layout=$1 dir=$2 path=$3
  mkdir -p "$dir"
  cp -rL "$layout" "$dir/layout"
  chmod -R u+w "$dir/layout"
  jq '.manifests[0].annotations["org.opencontainers.image.ref.name"] = "latest"' "$layout/index.json" >"$dir/layout/index.json"
  umoci --log error unpack --image "$dir/layout:latest" "$dir/bundle" >&2
  getcap "$dir/bundle/rootfs$path"
}

# indent PREFIX: copies stdin to stdout, each line after "  PREFIX".
indent() {
  local line
  while IFS= read -r line; do
    printf '  %s%s\n' "$1" "$line"
  done
}
