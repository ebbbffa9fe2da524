#!/usr/bin/env bash
# oci_load into podman (rootful, a private store under the test's temporary
# directory), then run as uid 1000 in a network namespace whose
# ip_unprivileged_port_start is 1024, so only a capability opens port 80:
#  - the caps_layer image with --cap-drop ALL --cap-add NET_BIND_SERVICE binds
#    :80; CapEff holds the capability and CapAmb is empty (exec cleared the
#    ambient set podman hands to non-root users: the capability came from the
#    file);
#  - with --cap-drop ALL alone, exec fails (=ep and the capability is not in
#    the bounding set), as the file capability demands;
#  - the pkg_tar(deps = [caps layer]) image runs under --cap-drop ALL (its
#    binary has no file capability left), and with --cap-add it binds only
#    through podman's ambient set;
#  - the images of caps_layer(tars = ...) over tar.bzl's tar and over that
#    pkg_tar (tar_rewrite_test) run as the caps_layer image does.
# oci_load picks `docker` from PATH, then `podman`; a `docker` stand-in that
# runs the private podman comes first on PATH.
#
# Usage: podman_run_test.sh LOAD LOAD_PKG_TAR LOAD_TAR_BZL_CAPS LOAD_PKG_TAR_CAPS
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
load=$1 load_pkg=$2 load_tar_bzl_caps=$3 load_pkg_tar_caps=$4
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/podman.XXXXXX")

podman=$(command -v podman) || {
  fail "podman is not on PATH (tools/offline/packages/e2e.txt installs it)"
  finish
}
[[ $(id -u) == 0 ]] || {
  fail "needs root (rootful podman writes security.capability when it unpacks)"
  finish
}
store=$tmp/store
mkdir -p "$store/tmp" "$tmp/bin"
# default_ulimits: a root without CAP_SYS_RESOURCE cannot raise podman's
# rootful defaults (see e2e/podman).
cat >"$store/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$store/events.log"
tmp_dir = "$store/tmp"
CONF
cat >"$tmp/bin/docker" <<WRAP
#!/bin/sh
exec env CONTAINERS_CONF="$store/containers.conf" PODMAN_IGNORE_CGROUPSV1_WARNING=1 \
  "$podman" --root "$store/root" --runroot "$store/runroot" --tmpdir "$store/tmp" \
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc "\$@"
WRAP
chmod +x "$tmp/bin/docker"
p=$tmp/bin/docker
cleanup() {
  "$p" rm --all --force >/dev/null 2>&1 || true
  "$p" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export RUNFILES_DIR=${TEST_SRCDIR:-$RUNFILES_DIR}
for l in "$load" "$load_pkg" "$load_tar_bzl_caps" "$load_pkg_tar_caps"; do
  if out=$(PATH="$tmp/bin:$PATH" "$l" 2>&1); then
    pass "oci_load $(basename "$(dirname "$l")")/$(basename "$l"): $(tail -n1 <<<"$out")"
  else
    fail "oci_load $l failed: $out"
  fi
done

expect_file_cap_runs "$p" capslayer/rules_oci:latest
# caps_layer(tars = ...) over tar.bzl's tar and over the pkg_tar that had
# lost the capability: the same as the caps_layer image.
expect_file_cap_runs "$p" capslayer/rules_oci:tar_bzl_app_caps
expect_file_cap_runs "$p" capslayer/rules_oci:pkg_tar_caps

out=$(run_selftest "$p" capslayer/rules_oci:pkg_tar --cap-drop ALL)
indent "pkg_tar, no --cap-add: " <<<"$out"
expect "pkg_tar image without --cap-add: starts (no file capability), bind denied" \
  "$(grep -c 'permission denied' <<<"$out")" 1
out=$(run_selftest "$p" capslayer/rules_oci:pkg_tar --cap-drop ALL --cap-add NET_BIND_SERVICE)
indent "pkg_tar, --cap-add: " <<<"$out"
expect "pkg_tar image with --cap-add: CapAmb (podman's ambient set, not a file capability)" \
  "$(grep '^CapAmb:' <<<"$out")" "CapAmb: 0000000000000400"
finish
