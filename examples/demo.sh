#!/usr/bin/env bash
# `bazel run //examples:demo`: what rules_capslayer builds, in one screen.
# Bazel has built the example server's layer (caps_layer) and image
# (caps_image) before this runs; the script shows them:
#
#   1. the layer: its path, its sha256 from the descriptor (checked against
#      sha256sum), and `capslayer inspect` of it;
#   2. the image: its manifest digest, its tarball, and `capslayer
#      requirements` (the flags a runtime needs);
#   3. what to run next.
#
# Usage (from BUILD.bazel): demo.sh CAPSLAYER LAYER DESCRIPTOR IMAGE_LAYOUT \
#   IMAGE_TARBALL IMAGE_DIGEST (runfiles paths, as $(rootpath) gives them)
set -euo pipefail

if [[ $# -ne 6 ]]; then
  echo "usage: bazel run //examples:demo (the paths come from BUILD.bazel)" >&2
  exit 2
fi

# Paths are relative to the main repository's runfiles directory, which
# `bazel run` makes the working directory. Run by hand (bazel-bin/examples/demo
# ARGS...), we go there first.
if [[ ! -e $1 ]]; then
  runfiles=${RUNFILES_DIR:-$0.runfiles}
  cd "$runfiles/_main" 2>/dev/null || {
    echo "cannot find the runfiles of $0 ($runfiles); run it with 'bazel run //examples:demo'" >&2
    exit 2
  }
fi
capslayer=$1 layer=$2 descriptor=$3 layout=$4 tarball=$5 digest_file=$6

bold=$'\e[1m' off=$'\e[0m'
[[ -t 1 ]] || bold='' off=''
section() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }

# Where the files are for the user: the bazel-bin paths of the workspace.
out() { printf 'bazel-bin/%s' "$1"; }

section "1. The layer: //examples/server:server_layer"
echo "path:    $(out "$layer") ($(wc -c <"$layer") bytes)"
# The descriptor's first "digest" is the layer's (the diff_id comes after).
digest=$(grep -o '"digest": *"sha256:[0-9a-f]*"' "$descriptor" | head -n 1 | grep -o 'sha256:[0-9a-f]*' || true)
sum="sha256:$(sha256sum <"$layer" | cut -d' ' -f1)"
if [[ $digest == "$sum" ]]; then
  echo "digest:  $digest (descriptor $(out "$descriptor"); sha256sum agrees)"
else
  echo "digest:  descriptor says '$digest' but sha256sum says $sum" >&2
  exit 1
fi
echo
echo "\$ capslayer inspect $(out "$layer")"
"$capslayer" inspect "$layer"

section "2. The image: //examples/server:server_image"
echo "manifest digest: $(cat "$digest_file")"
echo "OCI layout:      $(out "$layout")/"
echo "tarball:         $(out "$tarball") (docker load / podman load)"
echo
# The tarball carries the full name, so the run lines name the image.
echo "\$ capslayer requirements $(out "$tarball")"
"$capslayer" requirements "$tarball"

section "3. Next"
bazel=bazel
[[ -x ${BUILD_WORKSPACE_DIRECTORY:-/nonexistent}/tools/bazel ]] && bazel=tools/bazel
cat <<NEXT
$bazel run //examples/server:server_image_load   # load it into podman (or docker)
$bazel test //examples/...                       # policy tests of //examples/server and //examples/policy
$bazel test //e2e/bazel/...                      # Bazel's bytes = the CLI's by hand, getcap round trip
NEXT
