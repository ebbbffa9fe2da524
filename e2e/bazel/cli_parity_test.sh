#!/usr/bin/env bash
# The layers Bazel builds (//examples/hello:hello_layer, //examples/multi:server_layer)
# are byte-identical to the ones `capslayer layer` writes when run by hand with
# the flags a user would type. This pins caps_layer's argument mapping and
# that its defaults (mode, owner, mtime, compression) equal the CLI's.
#
# Usage (from BUILD.bazel): cli_parity_test.sh CAPSLAYER HELLO CONFIG \
#   HELLO_LAYER HELLO_DESCRIPTOR MULTI_LAYER MULTI_DESCRIPTOR
set -euo pipefail

capslayer=$1 hello=$2 config=$3
hello_layer=$4 hello_descriptor=$5 multi_layer=$6 multi_descriptor=$7
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

# The CLI would fall back to SOURCE_DATE_EPOCH without --mtime; by hand we
# mean "no flags", i.e. mtime 0.
unset SOURCE_DATE_EPOCH

same() { # same WHAT BAZEL_FILE CLI_FILE
  if cmp -s "$2" "$3"; then
    echo "PASS: $1: $(sha256sum <"$2" | cut -d' ' -f1)"
  else
    echo "FAIL: $1: $2 differs from the CLI's $3" >&2
    cmp "$2" "$3" >&2 || true
    failures=$((failures + 1))
  fi
}

# 1. The README's example, defaults only.
"$capslayer" layer \
  --binary "$hello" \
  --path /app/hello \
  --caps cap_net_bind_service=ep \
  --output "$tmp/hello.tar" \
  --descriptor "$tmp/hello.descriptor.json"
same "hello layer" "$hello_layer" "$tmp/hello.tar"
same "hello descriptor" "$hello_descriptor" "$tmp/hello.descriptor.json"

# 2. Several files, owner, mode, gzip; --file flags in another order than
# caps_layer passes them (entries are sorted, so order must not matter).
"$capslayer" layer \
  --binary "$hello" \
  --path /app/server \
  --caps cap_net_bind_service=p \
  --file "/etc/server/config.json=$config" \
  --file "/usr/local/bin/probe=$hello:cap_net_raw=ep" \
  --mode 0555 \
  --owner 65532:65532 \
  --output "$tmp/multi.tar.gz" \
  --descriptor "$tmp/multi.descriptor.json"
same "multi layer" "$multi_layer" "$tmp/multi.tar.gz"
same "multi descriptor" "$multi_descriptor" "$tmp/multi.descriptor.json"

# 3. The descriptor's digest is the layer's sha256 (checked with coreutils,
# not with capslayer's own code).
for pair in "$hello_layer:$hello_descriptor" "$multi_layer:$multi_descriptor"; do
  layer=${pair%%:*} descriptor=${pair#*:}
  want="sha256:$(sha256sum <"$layer" | cut -d' ' -f1)"
  if grep -q "\"digest\": *\"$want\"" "$descriptor"; then
    echo "PASS: $descriptor has digest $want"
  else
    echo "FAIL: $descriptor does not have digest $want:" >&2
    cat "$descriptor" >&2
    failures=$((failures + 1))
  fi
done

echo "$((7 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
