#!/usr/bin/env bash
# oci_load into a private Docker engine, then run as uid 1000 in a network
# namespace whose ip_unprivileged_port_start is pinned to 1024 (Docker lowers
# it to 0 by default), so only a capability opens port 80:
#  - the caps_layer image with --cap-drop ALL --cap-add NET_BIND_SERVICE binds
#    :80 with CapEff 0x400 and an empty ambient set; with --cap-drop ALL alone
#    the exec fails with "operation not permitted";
#  - the pkg_tar(deps = [caps layer]) image starts under --cap-drop ALL (its
#    binary lost the file capability) and cannot bind :80, with --cap-add
#    neither: Docker gives a non-root process no ambient capabilities, so
#    without the file capability nothing reaches it;
#  - the images of caps_layer(tars = ...) over tar.bzl's tar and over that
#    pkg_tar (tar_rewrite_test) run as the caps_layer image does.
#
# The engine is private, as in e2e/docker: dockerd (and the containerd it
# starts) with its own socket, data root, exec root and pid file under a
# directory of this test, its own cgroup parent, no iptables, no bridge.
# oci_load's script runs `docker load` with DOCKER_HOST pointing at it. The
# daemon is stopped on every exit path (trap); the test then checks that no
# process, mount or cgroup of it is left.
#
# Usage: docker_run_test.sh LOAD LOAD_PKG_TAR LOAD_TAR_BZL_CAPS LOAD_PKG_TAR_CAPS
# shellcheck source=examples/rules_oci/tests/lib.sh
source "$(dirname "$0")/lib.sh"
load=$1 load_pkg=$2 load_tar_bzl_caps=$3 load_pkg_tar_caps=$4

for tool in dockerd docker; do
  command -v "$tool" >/dev/null || {
    fail "$tool is not on PATH (Debian's docker.io; tools/offline/packages/e2e.txt installs it)"
    finish
  }
done
[[ $(id -u) == 0 ]] || {
  fail "needs root (dockerd, and security.capability is written when a layer is unpacked)"
  finish
}

# /tmp, not TEST_TMPDIR: a unix socket path has at most 107 bytes.
dir=$(mktemp -d /tmp/capslayer-docker.XXXXXX)
cgroup=capslayer-rules-oci-docker-$$
export DOCKER_HOST=unix://$dir/docker.sock
dockerd_pid=

# leftovers: the processes whose command line names $dir (dockerd, its
# containerd, shims) and the mounts under $dir (dockerd 28 leaves its data
# root mounted on itself), one per line.
leftovers() {
  local pid
  for pid in $(pgrep -f -- "$dir" || true); do
    [[ $pid == "$$" || $pid == "$BASHPID" ]] || printf 'process %s: %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
  done
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print "mount " $5 }' /proc/self/mountinfo
}

# stop_engine: SIGTERM to dockerd (it stops its containerd), up to 30 s; then
# whatever is left is killed and unmounted, and the cgroups removed. Prints
# what it had to clean up by force.
stop_engine() {
  local i what pid m
  if [[ -n $dockerd_pid ]]; then
    docker ps --all --quiet | xargs -r docker rm --force >/dev/null 2>&1 || true
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
      echo "dockerd did not exit within 30 s of SIGTERM; killing it"
      kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    wait "$dockerd_pid" 2>/dev/null || true
    dockerd_pid=
  fi
  for ((i = 0; i < 50; i++)); do
    [[ -z $(leftovers | grep '^process' || true) ]] && break
    sleep 0.1
  done
  while read -r what pid m; do
    case $what in
      process)
        echo "killing process $pid the engine left: $m"
        kill -KILL "$pid" 2>/dev/null || true
        ;;
    esac
  done < <(leftovers)
  # Deepest first.
  leftovers | awk '$1 == "mount" { print $2 }' | sort -r | while read -r m; do
    umount -l "$m" || echo "cannot unmount $m"
  done
  find /sys/fs/cgroup -depth -type d -path "*/$cgroup*" -exec rmdir {} + 2>/dev/null || true
}

cleanup() {
  stop_engine
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

dockerd -H "$DOCKER_HOST" --data-root "$dir/data" --exec-root "$dir/exec" \
  --pidfile "$dir/dockerd.pid" --cgroup-parent "/$cgroup" \
  --iptables=false --ip6tables=false --bridge=none >"$dir/dockerd.log" 2>&1 &
dockerd_pid=$!
version=
for ((i = 0; i < 300; i++)); do
  version=$(docker version --format '{{.Server.Version}}' 2>/dev/null) && break
  kill -0 "$dockerd_pid" 2>/dev/null || break
  sleep 0.2
done
if [[ -z $version ]]; then
  fail "dockerd did not come up within 60 s:"
  tail -n 30 "$dir/dockerd.log" >&2
  finish
fi
pass "private dockerd $version (containerd $(containerd --version 2>/dev/null | awk '{ print $3 }'), $(runc --version 2>/dev/null | head -n1))"

export RUNFILES_DIR=${TEST_SRCDIR:-$RUNFILES_DIR}
for l in "$load" "$load_pkg" "$load_tar_bzl_caps" "$load_pkg_tar_caps"; do
  if out=$("$l" 2>&1); then
    pass "oci_load $(basename "$(dirname "$l")")/$(basename "$l") into docker: $(tail -n1 <<<"$out")"
  else
    fail "oci_load $l into docker failed: $out"
  fi
done

expect_file_cap_runs docker capslayer/rules_oci:latest
# caps_layer(tars = ...) over tar.bzl's tar and over the pkg_tar that had
# lost the capability: the same as the caps_layer image.
expect_file_cap_runs docker capslayer/rules_oci:tar_bzl_app_caps
expect_file_cap_runs docker capslayer/rules_oci:pkg_tar_caps

out=$(run_selftest docker capslayer/rules_oci:pkg_tar --cap-drop ALL)
indent "pkg_tar, no --cap-add: " <<<"$out"
expect "pkg_tar image without --cap-add: starts (no file capability), bind denied" \
  "$(grep -c 'permission denied' <<<"$out")" 1
out=$(run_selftest docker capslayer/rules_oci:pkg_tar --cap-drop ALL --cap-add NET_BIND_SERVICE)
indent "pkg_tar, --cap-add: " <<<"$out"
expect "pkg_tar image with --cap-add: bind denied (Docker sets no ambient capabilities)" \
  "$(grep -c 'permission denied' <<<"$out")" 1

# The engine is stopped here, not only by the trap, so that what it leaves
# behind fails the test.
stoplog=$(mktemp "${TEST_TMPDIR:-/tmp}/docker-stop.XXXXXX")
stop_engine >"$stoplog"
indent "cleanup: " <"$stoplog"
expect "dockerd and its containerd stopped by SIGTERM (nothing killed, every mount undone)" \
  "$(grep -c 'did not exit\|killing\|cannot unmount' "$stoplog" || true)" 0
expect "processes left under $dir" "$(leftovers | grep -c '^process' || true)" 0
expect "mounts left under $dir" "$(leftovers | grep -c '^mount' || true)" 0
expect "cgroups left named $cgroup" "$(find /sys/fs/cgroup -type d -path "*/$cgroup*" 2>/dev/null | wc -l)" 0
finish
