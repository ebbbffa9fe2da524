#!/usr/bin/env bash
# Checks //e2e/repro:image: the manifest digest capslayer printed is the one
# index.json names, and the docker archive holds the file capabilities of
# both example layers, visible in the final filesystem.
set -euo pipefail
capslayer=$1 tarball=$2 digest_file=$3 index=$4

digest=$(cat "$digest_file")
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "FAIL: image.digest is '$digest', not a sha256 digest"; exit 1; }
grep -Eq "\"digest\": *\"$digest\"" "$index" ||
  { echo "FAIL: index.json does not name the manifest $digest:"; cat "$index"; exit 1; }

out=$("$capslayer" inspect "$tarball")
echo "$out"
fail=0
for want in '/app/hello +cap_net_bind_service=ep' '/app/server +cap_net_bind_service=p' '/usr/local/bin/probe +cap_net_raw=ep'; do
  if ! grep -Eq "$want" <<<"$out"; then
    echo "FAIL: inspect does not list $want"
    fail=1
  fi
done
exit $fail
