#!/usr/bin/env bash
# caps_layer(tars = [...], file_caps = {"/app/server": "cap_net_bind_service=ep"})
# on the output of another rule, then that layer in an oci_image. For each
# (input tar, rewritten layer, image) given:
#  - Python's tarfile (tarrewrite.py): the same entries in the same order;
#    every entry but /app/server has the input's header blocks and data byte
#    for byte; /app/server has the input's fields (name, type, mode, owner,
#    size, mtime, link), data and other PAX records, plus the capability;
#  - GNU tar's verbose listing is the input's;
#  - extracted by GNU tar --xattrs --xattrs-include=security.capability as
#    root, `getcap -r` finds the capability on /app/server and nowhere else,
#    and none in the input;
#  - the image's layer is the rewritten tar byte for byte, and getcap after
#    umoci unpack shows the capability.
# Inputs: tar.bzl 0.7.0's tar (bsdtar + mtree) and rules_pkg 1.2.0's
# pkg_tar(deps = [caps layer]), whose capability pkg_tar dropped
# (routes_test). podman_run_test and docker_run_test run both images.
#
# Usage: tar_rewrite_test.sh (IN LAYER IMAGE)...
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
tmp=${TEST_TMPDIR:-$(mktemp -d)}
[[ $(id -u) == 0 ]] || {
  fail "needs root (GNU tar and umoci write security.capability only as root)"
  finish
}
tar --version | grep -q 'GNU tar' || {
  fail "tar is not GNU tar"
  finish
}

listing() { tar --numeric-owner --full-time -tvf "$1"; }
n=0
while (($# >= 3)); do
  in=$1 layer=$2 image=$3
  shift 3
  n=$((n + 1))
  what=$(basename "$in")
  echo "$what -> $(basename "$layer"):"
  got=$(python3 "$here/tarrewrite.py" "$in" "$layer")
  indent "" <<<"$got"
  # What tarrewrite.py prints when only /app/server's capability changed.
  want=$(tarcaps "$in" | awk -v cap="$NET_BIND_EP" '{
    if ($1 == "app/server" || $1 == "./app/server")
      print $1, "header=differs fields=same data=same pax=same caps=" cap
    else
      print $1, "header=same fields=same data=same pax=same caps=-"
  }')
  expect "$what: entries" "$(wc -l <<<"$got")" "$(tarcaps "$in" | wc -l)"
  expect "$what: input has /app/server without a capability" "$(caps_of "$in" app/server)" -
  expect "$what: every other entry byte for byte, /app/server's fields, data and PAX records, plus the capability" "$got" "$want"
  expect "$what: GNU tar -tvf listing unchanged" "$(listing "$layer")" "$(listing "$in")"

  a=$tmp/$n/in b=$tmp/$n/out
  mkdir -p "$a" "$b"
  tar --xattrs --xattrs-include=security.capability --same-owner -xpf "$in" -C "$a"
  tar --xattrs --xattrs-include=security.capability --same-owner -xpf "$layer" -C "$b"
  expect "$what: getcap -r after GNU tar --xattrs (only /app/server)" \
    "$(cd "$b" && getcap -r . | sed 's|^\./|/|')" "/app/server cap_net_bind_service=ep"
  expect "$what: getcap -r of the input" "$(cd "$a" && getcap -r .)" ""
  expect "$what: extracted trees equal but for the capability" "$(diff -r --no-dereference "$a" "$b" && echo equal)" equal

  manifest=$(manifest_of "$image")
  digest=$(jq -r '.layers[0].digest' "$manifest")
  expect "$what: oci_image layer digest = sha256 of the rewritten layer" "$digest" "sha256:$(sha256 "$layer")"
  got=$(unpack_getcap "$image" "$tmp/$n/unpack" /app/server)
  expect "$what: getcap after umoci unpack of the oci_image" "${got##* }" cap_net_bind_service=ep
done
(($# == 0)) || fail "arguments come in threes: IN LAYER IMAGE"
expect "inputs checked" "$n" 2
finish
