#!/usr/bin/env bash
# oci_image_index over linux/amd64 and linux/arm64: one image per platform,
# each with a layer whose /app/server carries cap_net_bind_service=ep and is
# an ELF binary for that platform (the index's transition builds the binary,
# and with it the caps_layer, per platform).
#
# Usage: index_test.sh INDEX_LAYOUT
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
layout=$1

index=$(blob "$layout" "$(jq -r '.manifests[0].digest' "$layout/index.json")")
if [[ $(jq -r '.manifests[0].mediaType' "$layout/index.json") != application/vnd.oci.image.index.v1+json ]]; then
  index=$layout/index.json
fi
expect "platforms" "$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | join(" ")' "$index")" "linux/amd64 linux/arm64"
declare -A machine=([amd64]=3e00 [arm64]=b700) # ELF e_machine, little endian
layers=()
for arch in amd64 arm64; do
  manifest=$(blob "$layout" "$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest' "$index")")
  config=$(blob "$layout" "$(jq -r '.config.digest' "$manifest")")
  expect "$arch: config architecture" "$(jq -r '.os + "/" + .architecture' "$config")" "linux/$arch"
  layer=$(blob "$layout" "$(jq -r '.layers[0].digest' "$manifest")")
  layers+=("$(jq -r '.layers[0].digest' "$manifest")")
  expect "$arch: /app/server's capability" "$(caps_of "$layer" app/server)" "$NET_BIND_EP"
  got=$(python3 -c '
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    print(t.extractfile("app/server").read(20)[18:20].hex())' "$layer")
  expect "$arch: /app/server's ELF machine" "$got" "${machine[$arch]}"
done
if [[ ${layers[0]} != "${layers[1]}" ]]; then
  pass "two different layers"
else
  fail "amd64 and arm64 share the layer ${layers[0]}"
fi
finish
