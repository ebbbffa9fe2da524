#!/usr/bin/env bash
# The images Bazel builds (//examples/server:server_image and
# //examples/policy:debug_image) are byte-identical to what `capslayer image`
# writes when run by hand with the same layers and the flags a user would
# type: same manifest digest, same OCI layout files, same docker-archive
# tarball. This pins caps_image's argument mapping and its defaults (created
# time, platform) to the CLI's. It also checks, with coreutils and not with
# capslayer's code, that the layers went in unchanged and that the digest
# file names the manifest of index.json.
#
# Usage (from BUILD.bazel): image_parity_test.sh CAPSLAYER \
#   SERVER_LAYER SERVER_IMAGE SERVER_TARBALL SERVER_DIGEST \
#   TCPDUMP_LAYER DEBUG_IMAGE DEBUG_TARBALL DEBUG_DIGEST SERVER_REQUIREMENTS
set -euo pipefail

capslayer=$1
server_layer=$2 server_image=$3 server_tarball=$4 server_digest=$5
tcpdump_layer=$6 debug_image=$7 debug_tarball=$8 debug_digest=$9
server_requirements=${10}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0 passed=0

# The CLI would fall back to SOURCE_DATE_EPOCH without --created; by hand we
# mean "no flags", i.e. the epoch.
unset SOURCE_DATE_EPOCH

pass() {
  echo "PASS: $1"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $1" >&2
  failures=$((failures + 1))
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# check NAME BAZEL_LAYOUT BAZEL_TARBALL BAZEL_DIGEST CLI_DIR: compares what
# Bazel built with what the CLI wrote to CLI_DIR (image/, image.tar, digest).
check() {
  local name=$1 layout=$2 tarball=$3 digest_file=$4 cli=$5
  local digest
  digest=$(cat "$digest_file")
  if [ "$digest" = "$(cat "$cli/digest")" ]; then
    pass "$name: manifest digest $digest"
  else
    fail "$name: Bazel's digest $digest, the CLI's $(cat "$cli/digest")"
  fi
  if diff -r "$layout" "$cli/image" >/dev/null; then
    pass "$name: OCI layout identical ($(find -L "$layout" -type f | wc -l) files)"
  else
    fail "$name: the OCI layouts differ:"
    diff -r "$layout" "$cli/image" >&2 || true
  fi
  if cmp -s "$tarball" "$cli/image.tar"; then
    pass "$name: tarball identical ($(sha "$tarball"))"
  else
    fail "$name: $tarball differs from the CLI's"
  fi
  # The digest is that of the manifest index.json names, and the manifest
  # blob hashes to it.
  if grep -q "\"digest\": *\"$digest\"" "$layout/index.json" &&
    [ "sha256:$(sha "$layout/blobs/sha256/${digest#sha256:}")" = "$digest" ]; then
    pass "$name: index.json names the manifest, whose sha256 is the digest"
  else
    fail "$name: index.json or blobs/sha256/${digest#sha256:} does not match $digest"
    cat "$layout/index.json" >&2
  fi
}

# layer_blob NAME LAYOUT LAYER: the layer file is a blob of the layout as is.
layer_blob() {
  local blob
  blob="$2/blobs/sha256/$(sha "$3")"
  if [ -f "$blob" ] && cmp -s "$blob" "$3"; then
    pass "$1: $(basename "$3") is blob $(sha "$3"), unchanged"
  else
    fail "$1: no blob of $2 is byte-identical to $3"
  fi
}

# 1. The server image: one layer, from scratch.
mkdir -p "$tmp/server"
"$capslayer" image \
  --layer "$server_layer" \
  --entrypoint /app/server \
  --user 1000 \
  --expose 80/tcp \
  --output "$tmp/server/image" \
  --tarball "$tmp/server/image.tar" \
  --tag capslayer/server:latest >"$tmp/server/digest"
check "server_image" "$server_image" "$server_tarball" "$server_digest" "$tmp/server"
layer_blob "server_image" "$server_image" "$server_layer"

# 2. The debug image: two layers, bottom first.
mkdir -p "$tmp/debug"
"$capslayer" image \
  --layer "$server_layer" \
  --layer "$tcpdump_layer" \
  --entrypoint /app/server \
  --user 1000 \
  --expose 80/tcp \
  --output "$tmp/debug/image" \
  --tarball "$tmp/debug/image.tar" \
  --tag capslayer/server:debug >"$tmp/debug/digest"
check "debug_image" "$debug_image" "$debug_tarball" "$debug_digest" "$tmp/debug"
layer_blob "debug_image" "$debug_image" "$server_layer"
layer_blob "debug_image" "$debug_image" "$tcpdump_layer"

# 3. The server image as a base: adding the tcpdump layer on top of it gives
# the debug image again, digest for digest (the base's layer and config are
# carried over unchanged, and the history says the same).
"$capslayer" image \
  --base "$server_image" \
  --layer "$tcpdump_layer" \
  --output "$tmp/based" >"$tmp/based.digest"
if [ "$(cat "$tmp/based.digest")" = "$(cat "$debug_digest")" ]; then
  pass "server_image + tcpdump layer = debug_image: $(cat "$debug_digest")"
else
  fail "server_image + tcpdump layer gives $(cat "$tmp/based.digest"), debug_image is $(cat "$debug_digest")"
fi

# 4. The requirements output group is what `capslayer requirements` says of
# the image, run lines named after the tag; the example needs one capability.
"$capslayer" requirements --image capslayer/server:latest "$server_image" >"$tmp/requirements.txt"
# The first line names the layout's path, which differs (runfiles vs execroot).
if diff <(tail -n +2 "$server_requirements") <(tail -n +2 "$tmp/requirements.txt") >/dev/null; then
  pass "server_image.requirements.txt: the CLI's requirements"
else
  fail "server_image.requirements.txt differs from the CLI's:"
  diff <(tail -n +2 "$server_requirements") <(tail -n +2 "$tmp/requirements.txt") >&2 || true
fi
if grep -qxF "  docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 capslayer/server:latest" "$server_requirements"; then
  pass "server_image.requirements.txt: docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000"
else
  fail "no docker run line with NET_BIND_SERVICE in $server_requirements"
fi

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
