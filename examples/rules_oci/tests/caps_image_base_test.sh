#!/usr/bin/env bash
# A caps_image as oci_image's base: the oci_image keeps the base's layer byte
# for byte, adds its own on top, inherits entrypoint and user, and the
# unpacked image still has the capability on /app/server.
#
# Usage: caps_image_base_test.sh CAPS_IMAGE OCI_IMAGE SERVER_LAYER CONFIG_LAYER
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
base=$1 image=$2 server_layer=$3 config_layer=$4
tmp=${TEST_TMPDIR:-$(mktemp -d)}

expect "caps_image's layer is the caps_layer file" \
  "$(jq -r '.layers | map(.digest) | join(" ")' "$(manifest_of "$base")")" "sha256:$(sha256 "$server_layer")"
expect "oci_image's layers: the base's, then its own" \
  "$(jq -r '.layers | map(.digest) | join(" ")' "$(manifest_of "$image")")" \
  "sha256:$(sha256 "$server_layer") sha256:$(sha256 "$config_layer")"
if cmp -s "$(blob "$image" "sha256:$(sha256 "$server_layer")")" "$server_layer"; then
  pass "the base layer's blob is the caps_layer file, byte for byte"
else
  fail "the base layer's blob differs from $server_layer"
fi
config=$(config_of "$image")
expect "entrypoint from the base" "$(jq -c '.config.Entrypoint' "$config")" '["/app/server"]'
expect "user from the base" "$(jq -r '.config.User' "$config")" 1000
expect "diff_ids" "$(jq -r '.rootfs.diff_ids | length' "$config")" 2
got=$(unpack_getcap "$image" "$tmp/unpack" /app/server)
expect "getcap after umoci unpack" "${got##* }" cap_net_bind_service=ep
if [[ -f $tmp/unpack/bundle/rootfs/etc/server/config.json ]]; then
  pass "the oci_image's own layer is there: /etc/server/config.json"
else
  fail "/etc/server/config.json is missing from the unpacked image"
fi
finish
