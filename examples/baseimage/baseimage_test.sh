#!/usr/bin/env bash
# Checks the copy-up layer of examples/baseimage with tools independent of
# capslayer's writer:
#  - GNU tar lists exactly bin/ and bin/busybox, with the package's mode,
#    owner and mtime;
#  - bin/busybox is the package's file, byte for byte;
#  - the labels file is the one line oci_image(labels = ...) takes;
#  - capslayer inspect of the image finds the capability on the top layer;
#  - as root: extracted with --xattrs, getcap shows the capability; run as
#    uid 1000 in a network namespace with ip_unprivileged_port_start=1024 and
#    only CAP_NET_BIND_SERVICE in the bounding set, the copy-up's busybox
#    binds port 80 and the package's own busybox gets EPERM.
# Without root, getcap, unshare or setpriv the kernel part skips with a
# message (and fails under CI=true).
#
# Usage: baseimage_test.sh CAPSLAYER DATA_TAR COPYUP_LAYER LABELS IMAGE_LAYOUT
set -euo pipefail

capslayer=$1 data=$2 layer=$3 labels=$4 image=$5
failures=0
expect() { # expect WHAT GOT WANT
	if [ "$2" = "$3" ]; then echo "ok    $1"; else printf 'FAIL  %s\n  got:  %s\n  want: %s\n' "$1" "$2" "$3"; failures=$((failures + 1)); fi
}

listing=$(tar --numeric-owner -tvf "$layer" | awk '{ print $1, $2, $3, $6 }')
want=$(tar --numeric-owner -tvf "$data" | awk '$6 == "./bin/" || $6 == "./bin/busybox" { sub(/^\.\//, "", $6); print $1, $2, $3, $6 }')
expect "the layer holds bin/ and bin/busybox with the package's metadata" "$listing" "$want"
expect "bin/busybox is the package's file" \
	"$(tar -xOf "$layer" bin/busybox | sha256sum)" "$(tar -xOf "$data" ./bin/busybox | sha256sum)"
expect "labels file" "$(cat "$labels")" 'io.capslayer.capabilities={"/bin/busybox":"cap_net_bind_service=ep"}'
expect "capslayer inspect of the image" \
	"$("$capslayer" inspect "$image" | awk '$2 == "/bin/busybox" { print $1, $3, $NF }')" "1 cap_net_bind_service=ep visible"

skip() {
	if [ "${CI:-}" = true ]; then echo "FAIL  $* (CI=true: the kernel check must run)"; exit 1; fi
	echo "SKIP  kernel check: $*"
	exit $((failures > 0))
}
[ "$(id -u)" -eq 0 ] || skip "not root: cannot set security.capability"
for tool in getcap unshare setpriv sysctl; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
# uid 1000 must reach the binaries: not under TEST_TMPDIR, whose parents
# (root's cache) it cannot traverse.
tmp=$(mktemp -d /tmp/baseimage_test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/copyup" "$tmp/plain"
tar --xattrs --xattrs-include=security.capability -xf "$layer" -C "$tmp/copyup"
tar -xf "$data" -C "$tmp/plain" ./bin/busybox
chmod 0755 "$tmp" "$tmp/copyup" "$tmp/copyup/bin" "$tmp/plain" "$tmp/plain/bin"
expect "getcap" "$(getcap "$tmp/copyup/bin/busybox" | awk '{ print $2 }')" "cap_net_bind_service=ep"
expect "the package's busybox has no capability" "$(getcap "$tmp/plain/bin/busybox")" ""

# nc -l -p 80 waits for a client once bound: `timeout 2` ends it (143); a
# failed bind ends it at once with "bind: Permission denied" (1).
run() { # run BUSYBOX: exit status and messages of nc as uid 1000
	unshare -n sh -c '
		sysctl -qw net.ipv4.ip_unprivileged_port_start=1024
		exec setpriv --reuid 1000 --regid 1000 --clear-groups --inh-caps=-all --bounding-set=-all,+net_bind_service \
			"$1" timeout 2 "$1" nc -l -p 80
	' sh "$1" 2>&1 || echo "exit $?"
}
expect "copy-up busybox binds :80 as uid 1000" "$(run "$tmp/copyup/bin/busybox")" "exit 143"
expect "package busybox (no copy-up) gets EPERM" "$(run "$tmp/plain/bin/busybox")" "$(printf 'nc: bind: Permission denied\nexit 1')"
exit $((failures > 0))
