#!/usr/bin/env bash
# oci_image(tars = [caps_layer]) keeps the layer: for each (image, layer,
# media type) given, the image's only layer blob is the caps_layer file byte
# for byte (same digest, same size), has the media type of its compression,
# its diff_id is the sha256 of the uncompressed tar, /app/server's entry in
# the blob carries cap_net_bind_service=ep, and after `umoci unpack` (as
# root) getcap shows the capability on disk.
#
# Usage: layer_bytes_test.sh (LAYOUT LAYER MEDIA_TYPE)...
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
tmp=${TEST_TMPDIR:-$(mktemp -d)}

n=0
while (($#)); do
  layout=$1 layer=$2 media=$3
  shift 3
  n=$((n + 1))
  what=$(basename "$layer")
  manifest=$(manifest_of "$layout")
  expect "$what: layers in the image" "$(jq '.layers | length' "$manifest")" 1
  digest=$(jq -r '.layers[0].digest' "$manifest")
  expect "$what: layer digest = sha256 of the caps_layer file" "$digest" "sha256:$(sha256 "$layer")"
  if cmp -s "$(blob "$layout" "$digest")" "$layer"; then
    pass "$what: the blob is the file, byte for byte"
  else
    fail "$what: the blob differs from $layer"
  fi
  expect "$what: layer size" "$(jq -r '.layers[0].size' "$manifest")" "$(wc -c <"$layer")"
  expect "$what: media type" "$(jq -r '.layers[0].mediaType' "$manifest")" "$media"
  uncompressed=$(python3 -c '
import gzip, hashlib, subprocess, sys
d = open(sys.argv[1], "rb").read()
if d[:2] == b"\x1f\x8b": d = gzip.decompress(d)
elif d[:4] == b"\x28\xb5\x2f\xfd": d = subprocess.run(["zstd", "-dc"], input=d, stdout=subprocess.PIPE, check=True).stdout
print("sha256:" + hashlib.sha256(d).hexdigest())' "$layer")
  expect "$what: diff_id = sha256 of the uncompressed tar" "$(jq -r '.rootfs.diff_ids[0]' "$(config_of "$layout")")" "$uncompressed"
  expect "$what: /app/server's capability in the blob" "$(caps_of "$(blob "$layout" "$digest")" app/server)" "$NET_BIND_EP"
  expect "$what: config user" "$(jq -r '.config.User' "$(config_of "$layout")")" 1000
  got=$(unpack_getcap "$layout" "$tmp/unpack$n" /app/server)
  expect "$what: getcap after umoci unpack" "${got##* }" cap_net_bind_service=ep
done
expect "images checked" "$n" 3
finish
