#!/usr/bin/env bash
# tools/release/snippet.sh VERSION INTEGRITY: prints a release's install
# snippet (the starlark block between the install-snippet markers of
# tools/release/install-snippet.md) with {VERSION} and {INTEGRITY} filled in. The release notes and
# the e2e/consumer test both take it from here, so the snippet users copy is
# the one CI builds with.
set -euo pipefail
(($# == 2)) || {
  echo "usage: tools/release/snippet.sh VERSION INTEGRITY" >&2
  exit 2
}
readme=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/install-snippet.md
block=$(awk '
  /<!-- install-snippet:begin/ { inside = 1; next }
  /<!-- install-snippet:end/ { inside = 0 }
  inside && /^```/ { fence++; next }
  inside && fence == 1 { print }
' "$readme")
[[ $block == *'bazel_dep(name = "rules_capslayer"'* ]] || {
  echo "tools/release/snippet.sh: no install snippet between the install-snippet markers of $readme" >&2
  exit 1
}
block=${block//\{VERSION\}/$1}
printf '%s\n' "${block//\{INTEGRITY\}/$2}"
