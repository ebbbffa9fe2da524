#!/usr/bin/env bash
# Extracts the Bazel-built layers with GNU tar, as a container runtime would,
# and reads the capabilities back with getcap (libcap), independently of
# capslayer's own decoder. Needs root (to set security.capability) and the
# tools; skips with a message otherwise.
#
# Usage: caps_roundtrip_test.sh HELLO_LAYER MULTI_LAYER
set -euo pipefail

hello_layer=$1 multi_layer=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}

skip() { echo "SKIP: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "not root: cannot set security.capability"
command -v getcap >/dev/null || skip "getcap not installed (libcap2-bin)"
tar --version 2>/dev/null | grep -q 'GNU tar' || skip "GNU tar not installed"

# Can this file system hold the xattr at all? (tmpfs without xattr support, or
# an overlayfs upper dir in a user namespace, cannot.)
probe="$tmp/probe"
cp "$(command -v getcap)" "$probe"
if ! command -v setcap >/dev/null || ! setcap cap_chown=p "$probe" 2>/dev/null; then
  skip "cannot set file capabilities under $tmp"
fi

failures=0 passed=0
expect() { # expect WHAT GOT WANT
  if [ "$2" = "$3" ]; then
    echo "PASS: $1: $2"
    passed=$((passed + 1))
  else
    echo "FAIL: $1: got \"$2\", want \"$3\"" >&2
    failures=$((failures + 1))
  fi
}
caps_of() { getcap "$1" | sed -e "s|^$1 *=* *||"; }

# Owners and modes as GNU tar lists them (the test may run in a user
# namespace where uid 65532 is unmapped, so extraction keeps the extracting
# user as owner).
listing() { tar --numeric-owner -tvf "$1" | awk '{print $1, $2, $6}' | tr '\n' ';'; }
expect "hello listing" "$(listing "$hello_layer")" "drwxr-xr-x 0/0 app/;-rwxr-xr-x 0/0 app/hello;"
expect "multi listing" "$(listing "$multi_layer")" \
  "drwxr-xr-x 0/0 app/;-r-xr-xr-x 65532/65532 app/server;drwxr-xr-x 0/0 etc/;drwxr-xr-x 0/0 etc/server/;-r-xr-xr-x 65532/65532 etc/server/config.json;drwxr-xr-x 0/0 usr/;drwxr-xr-x 0/0 usr/local/;drwxr-xr-x 0/0 usr/local/bin/;-r-xr-xr-x 65532/65532 usr/local/bin/probe;"

mkdir "$tmp/hello" "$tmp/multi"
tar --xattrs --xattrs-include='security.capability' --no-same-owner -xpf "$hello_layer" -C "$tmp/hello"
tar --xattrs --xattrs-include='security.capability' --no-same-owner -xpzf "$multi_layer" -C "$tmp/multi"

expect "/app/hello caps" "$(caps_of "$tmp/hello/app/hello")" "cap_net_bind_service=ep"

expect "/app/server caps" "$(caps_of "$tmp/multi/app/server")" "cap_net_bind_service=p"
expect "/usr/local/bin/probe caps" "$(caps_of "$tmp/multi/usr/local/bin/probe")" "cap_net_raw=ep"
expect "/etc/server/config.json caps" "$(caps_of "$tmp/multi/etc/server/config.json")" ""
expect "/etc/server/config.json content" "$(cat "$tmp/multi/etc/server/config.json")" '{"listen": ":80"}'
expect "mtime" "$(stat -c '%Y' "$tmp/multi/app/server")" "0"

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
