#!/usr/bin/env bash
# capslayer inspect reads cap_net_bind_service=ep on the go_binary, whose
# bytes are in the layer unchanged.
set -euo pipefail
capslayer=$1 layer=$2 server=$3
"$capslayer" version
got=$("$capslayer" inspect "$layer" | awk '$2 == "/app/server" { print $3 }')
[[ $got == cap_net_bind_service=ep ]] || {
  echo "FAIL $layer: /app/server should have cap_net_bind_service=ep, inspect says '${got:-<not listed>}'"
  exit 1
}
tar -xOf "$layer" app/server | cmp - "$server" || {
  echo "FAIL $layer: /app/server differs from $server"
  exit 1
}
echo "PASS $layer: /app/server has cap_net_bind_service=ep and the go_binary's bytes"
