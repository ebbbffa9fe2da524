#!/usr/bin/env bash
# The routes other than oci_image(tars = [caps_layer]), measured:
#  - rules_pkg 1.2.0 pkg_tar(deps = [caps layer]): the file is copied, its
#    capability is dropped (the writer uses tarfile.GNU_FORMAT, which writes
#    no PAX records), and nothing warns;
#  - oci_image(tars = [that pkg_tar]): the image has /app/server without the
#    capability (after umoci unpack, getcap prints nothing);
#  - tar.bzl 0.7.0 `tar(srcs = [caps layer])`: bsdtar packs the layer as one
#    opaque file, it does not merge entries; `tar(srcs = [binary])`: no
#    capability (mtree has no keyword for xattrs).
#
# Usage: routes_test.sh CAPS_LAYER PKG_TAR PKG_TAR_IMAGE TAR_BZL_LAYER TAR_BZL_BINARY
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
layer=$1 pkg=$2 pkg_image=$3 tarbzl_layer=$4 tarbzl_binary=$5
tmp=${TEST_TMPDIR:-$(mktemp -d)}

# The input.
expect "caps_layer: /app/server's capability" "$(caps_of "$layer" app/server)" "$NET_BIND_EP"
content() { # content TAR PATH: sha256 of PATH's contents
  python3 -c '
import hashlib, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.name.lstrip("./") == sys.argv[2]:
            print(hashlib.sha256(t.extractfile(m).read()).hexdigest())' "$1" "$2"
}
want=$(content "$layer" app/server)

# rules_pkg 1.2.0.
expect "pkg_tar: /app/server's contents" "$(content "$pkg" app/server)" "$want"
expect "pkg_tar: /app/server's capability" "$(caps_of "$pkg" app/server)" -
expect "pkg_tar: PAX headers in the output" \
  "$(python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); print(sum(1 for m in t if m.pax_headers))' "$pkg")" 0
expect "pkg_tar: output format is GNU" \
  "$(python3 -c 'import sys, tarfile; print(tarfile.open(sys.argv[1]).getmembers()[0].tobuf(tarfile.GNU_FORMAT)[257:265] == open(sys.argv[1], "rb").read()[257:265])' "$pkg")" True

# oci_image over that pkg_tar.
manifest=$(manifest_of "$pkg_image")
digest=$(jq -r '.layers[0].digest' "$manifest")
expect "oci_image(pkg_tar): layer digest = sha256 of the pkg_tar" "$digest" "sha256:$(sha256 "$pkg")"
expect "oci_image(pkg_tar): /app/server's capability in the blob" "$(caps_of "$(blob "$pkg_image" "$digest")" app/server)" -
got=$(unpack_getcap "$pkg_image" "$tmp/unpack" /app/server)
expect "oci_image(pkg_tar): getcap after umoci unpack" "$got" ""
if [[ -x $tmp/unpack/bundle/rootfs/app/server ]]; then
  pass "oci_image(pkg_tar): /app/server is there, executable"
else
  fail "oci_image(pkg_tar): /app/server is missing"
fi

# tar.bzl 0.7.0.
entries=$(tarcaps "$tarbzl_layer")
echo "tar.bzl tar(srcs = [caps layer]) entries:"
indent "" <<<"$entries"
expect "tar.bzl(layer): the layer is one regular file" "$(awk '$1 ~ /server_layer\.tar$/ { print $2 }' <<<"$entries")" f
expect "tar.bzl(layer): no /app/server entry" "$(awk '$1 ~ /(^|\/)app\/server$/' <<<"$entries" | wc -l)" 0
expect "tar.bzl(layer): entries with a capability" "$(awk '$3 != "-"' <<<"$entries" | wc -l)" 0
entries=$(tarcaps "$tarbzl_binary")
expect "tar.bzl(binary): the binary is packed as server_/server" "$(awk '$1 == "server_/server" { print $2 }' <<<"$entries")" f
expect "tar.bzl(binary): entries with a capability" "$(awk '$3 != "-"' <<<"$entries" | wc -l)" 0
finish
