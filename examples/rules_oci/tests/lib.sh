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

# Running the images (podman_run_test, docker_run_test): their entrypoint is
# /app/server (main.go), run as uid 1000 with no network but lo, in a network
# namespace whose ip_unprivileged_port_start is pinned to 1024 (Docker would
# lower it to 0), so only a capability opens port 80.
#
# run_selftest CLI IMAGE FLAGS...: `CLI run` of IMAGE with FLAGS; prints the
# output, then "exit N".
run_selftest() {
  local cli=$1 image=$2
  shift 2
  local rc=0 out
  out=$("$cli" run --rm --network none --sysctl net.ipv4.ip_unprivileged_port_start=1024 \
    --user 1000 "$@" "$image" -selftest 2>&1) || rc=$?
  printf '%s\nexit %s\n' "$out" "$rc"
}

# expect_file_cap_runs CLI IMAGE: IMAGE's /app/server carries
# cap_net_bind_service=ep. With --cap-drop ALL --cap-add NET_BIND_SERVICE it
# binds :80 with CapEff 0x400 and an empty ambient set (the capability came
# from the file: exec clears the ambient set when a file has capabilities);
# with --cap-drop ALL alone the exec is refused (=ep and the capability is
# not in the bounding set).
expect_file_cap_runs() {
  local cli=$1 image=$2 out
  out=$(run_selftest "$cli" "$image" --cap-drop ALL --cap-add NET_BIND_SERVICE)
  indent "$image, --cap-add: " <<<"$out"
  expect "$image --cap-add: binds :80" "$(grep -c '^bound :80$' <<<"$out")" 1
  expect "$image --cap-add: serves" "$(grep -c '^hello from rules_oci$' <<<"$out")" 1
  expect "$image --cap-add: CapEff" "$(grep '^CapEff:' <<<"$out")" "CapEff: 0000000000000400"
  expect "$image --cap-add: CapAmb (the capability came from the file)" "$(grep '^CapAmb:' <<<"$out")" "CapAmb: 0000000000000000"
  expect "$image --cap-add: exit status" "$(tail -n1 <<<"$out")" "exit 0"

  out=$(run_selftest "$cli" "$image" --cap-drop ALL)
  indent "$image, no --cap-add: " <<<"$out"
  expect "$image without --cap-add: exec refused" \
    "$(grep -qi 'operation not permitted' <<<"$out" && echo "operation not permitted")" "operation not permitted"
  expect "$image without --cap-add: not started" "$(grep -c '^bound' <<<"$out")" 0
  expect "$image without --cap-add: exit status is not 0" "$(tail -n1 <<<"$out" | grep -cvx 'exit 0')" 1
}

# indent PREFIX: copies stdin to stdout, each line after "  PREFIX".
indent() {
  local line
  while IFS= read -r line; do
    printf '  %s%s\n' "$1" "$line"
  done
}
