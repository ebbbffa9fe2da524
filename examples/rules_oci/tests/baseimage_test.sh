#!/usr/bin/env bash
# A binary the base image ships, with rules_oci: oci_image(base, tars =
# [caps_layer(base = ...)], labels = caps_labels) over Debian's busybox-static.
#  - the copy-up layer holds bin/ and bin/busybox, the package's bytes, with
#    the capability (Python's tarfile);
#  - oci_image keeps it byte for byte as the top layer;
#  - the config carries the io.capslayer.capabilities label, and
#    `capslayer audit` verifies it against the layers and passes;
#  - the same image with a forged label fails the audit.
#
# Usage: baseimage_test.sh CAPSLAYER IMAGE FORGED_IMAGE COPYUP_LAYER DATA_TAR
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
capslayer=$1 image=$2 forged=$3 layer=$4 data=$5

expect "the copy-up layer's entries" "$(tar -tf "$layer" | tr '\n' ' ')" "bin/ bin/busybox "
expect "bin/busybox is the package's file" \
  "$(tar -xOf "$layer" bin/busybox | sha256sum | cut -d' ' -f1)" "$(tar -xOf "$data" ./bin/busybox | sha256sum | cut -d' ' -f1)"
expect "capability of bin/busybox" "$(caps_of "$layer" bin/busybox)" "$NET_BIND_EP"
expect "oci_image's top layer is the caps_layer file" \
  "$(jq -r '.layers[-1].digest' "$(manifest_of "$image")")" "sha256:$(sha256 "$layer")"
expect "the label" "$(jq -r '.config.Labels["io.capslayer.capabilities"]' "$(config_of "$image")")" \
  '{"/bin/busybox":"cap_net_bind_service=ep"}'
if out=$("$capslayer" audit --profile pss-restricted "$image" 2>&1); then
  pass "capslayer audit verifies the label and passes"
else
  fail "capslayer audit of the image: $out"
fi
if out=$("$capslayer" audit --profile pss-restricted "$forged" 2>&1); then
  fail "capslayer audit passed the forged label: $out"
elif [[ $out == *"does not match the layers"* ]]; then
  pass "capslayer audit refuses the forged label"
else
  fail "capslayer audit of the forged label failed for another reason: $out"
fi
finish
