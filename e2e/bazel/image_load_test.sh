#!/usr/bin/env bash
# //examples/server:server_image_load, the launcher `bazel run` starts:
#   1. with CAPSLAYER_LOAD_TOOL set to a stand-in CLI, it runs
#      `TOOL load --input TARBALL ARGS...` on the image's tarball (the same
#      bytes as server_image.tar) and prints the tag and the run line with the
#      flags the image needs;
#   2. without podman or docker on PATH it fails with a message saying so;
#   3. with podman (as root), the image really loads into a private store
#      (vfs driver, nothing shared with the machine's images), and podman
#      sees the entrypoint and user the BUILD file gave. Skipped otherwise.
#
# Usage (from BUILD.bazel): image_load_test.sh LOAD_SCRIPT TARBALL
set -euo pipefail

load=$1 tarball=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0 passed=0

pass() {
  echo "PASS: $1"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $1" >&2
  failures=$((failures + 1))
}
want_line() { # want_line WHAT FILE FIXED_STRING
  if grep -qxF -- "$3" "$2"; then
    pass "$1"
  else
    fail "$1: no line '$3' in:"
    cat "$2" >&2
  fi
}

# 1. A stand-in tool records its arguments and the bytes it was given.
mkdir -p "$tmp/fake"
cat >"$tmp/fake/fakecli" <<FAKE
#!/bin/sh
printf '%s\n' "\$@" >"$tmp/fake/args"
[ "\$1" = load ] && [ "\$2" = --input ] && cp "\$3" "$tmp/fake/loaded.tar"
echo "Loaded image: capslayer/server:latest"
FAKE
chmod +x "$tmp/fake/fakecli"
CAPSLAYER_LOAD_TOOL="$tmp/fake/fakecli" "$load" --quiet >"$tmp/fake/out" 2>&1 || {
  fail "the launcher failed with a working tool:"
  cat "$tmp/fake/out" >&2
}
printf 'load\n--input\n%s\n--quiet\n' "$(sed -n 3p "$tmp/fake/args")" >"$tmp/fake/want_args"
if cmp -s "$tmp/fake/args" "$tmp/fake/want_args"; then
  pass "runs 'fakecli load --input TARBALL --quiet'"
else
  fail "the tool got other arguments:"
  cat "$tmp/fake/args" >&2
fi
if cmp -s "$tmp/fake/loaded.tar" "$tarball"; then
  pass "the tool got server_image.tar, byte for byte"
else
  fail "the tool did not get the bytes of $tarball"
fi
want_line "says what was loaded where" "$tmp/fake/out" "capslayer/server:latest loaded into fakecli. Run it with:"
want_line "prints the run line with the image's requirements" "$tmp/fake/out" \
  "  fakecli run --rm --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 capslayer/server:latest"

# 2. Neither podman nor docker: exit 1 with a message. bash is started by its
# absolute path, so PATH can be empty of everything.
mkdir -p "$tmp/empty"
bash=$(command -v bash)
set +e
PATH="$tmp/empty" "$bash" "$load" >"$tmp/none.out" 2>&1
rc=$?
set -e
if [ "$rc" = 1 ] && grep -q "neither podman nor docker is on PATH" "$tmp/none.out" &&
  grep -q "set CAPSLAYER_LOAD_TOOL" "$tmp/none.out"; then
  pass "no podman, no docker: exit 1, says which tools and how to choose one"
else
  fail "no podman, no docker: exit $rc, want 1 with a message:"
  cat "$tmp/none.out" >&2
fi

# 3. A real podman, in a private store.
podman=$(command -v podman || true)
if [ -z "$podman" ] || [ "$(id -u)" != 0 ]; then
  echo "SKIP: podman load (needs root and podman)"
else
  store=$tmp/podman
  mkdir -p "$store"
  cat >"$store/podman" <<WRAP
#!/bin/sh
exec "$podman" --root "$store/root" --runroot "$store/runroot" --storage-driver vfs --cgroup-manager cgroupfs --events-backend none "\$@"
WRAP
  chmod +x "$store/podman"
  export PODMAN_IGNORE_CGROUPSV1_WARNING=1
  if CAPSLAYER_LOAD_TOOL="$store/podman" "$load" >"$store/out" 2>&1; then
    want_line "podman names the image" "$store/out" "Loaded image: localhost/capslayer/server:latest"
    got=$("$store/podman" image inspect --format '{{json .Config.Entrypoint}} {{.Config.User}} {{json .Config.ExposedPorts}}' capslayer/server:latest 2>&1 || true)
    if [ "$got" = '["/app/server"] 1000 {"80/tcp":{}}' ]; then
      pass "podman sees entrypoint, user and port: $got"
    else
      fail "podman image inspect: got '$got'"
    fi
  else
    fail "podman load failed:"
    cat "$store/out" >&2
  fi
  "$store/podman" rmi -a -f >/dev/null 2>&1 || true
fi

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
