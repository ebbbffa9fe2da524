#!/usr/bin/env bash
# Tests of tools/bazel's decisions, run on the host (not under Bazel: inside
# the offline chroot tools/bazel only ever runs the chroot's Bazel).
#
#   tools/offline/launcher_test.sh
#
# Needs curl. Fake Bazels record how they were called; no network is used
# (the registry probe gets file:// URLs, the Debian mirror an unused local
# port), nothing is provisioned, and the host is left as it was. Cases that
# need root (the offline path starts after the root check) are skipped
# without it. With CAPSLAYER_LAUNCHER_TEST_OFFLINE=1 it also checks, inside the
# real offline environment (provisioning it if needed: minutes), that
# tools/bazel run from inside the chroot runs the chroot's Bazel directly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ws=$(cd "$here/../.." && pwd -P)
launcher=$ws/tools/bazel

command -v curl >/dev/null || {
  echo "SKIP: curl is not installed"
  exit 0
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'echo "launcher_test.sh: unexpected failure at line $LINENO" >&2' ERR

failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() {
  printf 'FAIL  %s\n' "$1"
  shift
  printf '      %s\n' "$@"
  failures=$((failures + 1))
}
skip() { printf 'SKIP  %s (%s)\n' "$1" "$2"; }

# A fake Bazel that records its arguments, one per line, and the variables
# the launcher must set.
mkdir -p "$tmp/bin" "$tmp/empty"
cat >"$tmp/fake-bazel" <<'EOF'
#!/bin/sh
{
  for a in "$@"; do printf 'arg:%s\n' "$a"; done
  printf 'skip_wrapper:%s\n' "${BAZELISK_SKIP_WRAPPER:-}"
} >"$FAKE_BAZEL_LOG"
exit 7
EOF
chmod +x "$tmp/fake-bazel"
ln -s "$tmp/fake-bazel" "$tmp/bin/bazel"

reachable=file:///dev/null
unreachable=file://$tmp/no-such-file
# Environment for every run: only what the case sets, a PATH without any
# real Bazel, a cache and a mirror that cannot be used by accident.
base_env=(env -i "PATH=$tmp/empty:/usr/sbin:/usr/bin:/sbin:/bin" "HOME=$tmp/home"
  "CAPSLAYER_BAZEL_CACHE=$tmp/cache" "CAPSLAYER_DEBIAN_MIRROR=http://127.0.0.1:9"
  "FAKE_BAZEL_LOG=$tmp/fake.log")

# run NAME ENV... -- ARGS... runs the launcher; sets $status, $out (stderr and
# stdout) and $called (the fake's log, empty if not called).
run() {
  local envs=()
  while [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  rm -f "$tmp/fake.log"
  status=0
  out=$("${base_env[@]}" "${envs[@]}" "$launcher" "$@" 2>&1 </dev/null) || status=$?
  called=
  if [[ -f $tmp/fake.log ]]; then
    called=$(<"$tmp/fake.log")
  fi
}

expect_fake_called() {
  local name=$1
  local want
  want=$(printf 'arg:%s\n' build //x:y '--define=a=b c')
  want+=$'\nskip_wrapper:true'
  if [[ $status == 7 && $called == "$want" ]]; then
    pass "$name"
  else
    fail "$name" "status $status (want 7, the fake's)" "fake saw: ${called:-<not called>}" "output: $out"
  fi
}

# --- online: delegate to a real Bazel ---------------------------------------

run "CAPSLAYER_BAZEL_PROBE_URL=$reachable" "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y '--define=a=b c'
expect_fake_called "registry reachable + BAZEL_REAL: execs BAZEL_REAL with the arguments unchanged"

run "CAPSLAYER_BAZEL_PROBE_URL=$reachable" "PATH=$tmp/bin:/usr/sbin:/usr/bin:/sbin:/bin" -- build //x:y '--define=a=b c'
expect_fake_called "registry reachable + bazel on PATH: execs it"

run CAPSLAYER_BAZEL_MODE=online "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y '--define=a=b c'
expect_fake_called "CAPSLAYER_BAZEL_MODE=online: execs BAZEL_REAL without probing"

run CAPSLAYER_TOOLS_BAZEL_ACTIVE=1 "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y '--define=a=b c'
expect_fake_called "run again by the Bazel it exec'd: execs BAZEL_REAL, no second decision"

run CAPSLAYER_TOOLS_BAZEL_ACTIVE=1 -- build
if [[ $status == 36 && $out == *"runs tools/bazel again without setting BAZEL_REAL"* ]]; then
  pass "run again without BAZEL_REAL: stops instead of looping"
else
  fail "run again without BAZEL_REAL: stops instead of looping" "status $status" "output: $out"
fi

# A `bazel` on PATH that is tools/bazel itself must not be picked.
ln -s "$launcher" "$tmp/empty/bazel"
run "CAPSLAYER_BAZEL_PROBE_URL=$reachable" "BAZEL_REAL=" -- build
rm "$tmp/empty/bazel"
if [[ -z $called && $out != *"runs tools/bazel again"* && $status == 36 ]]; then
  pass "tools/bazel on PATH as 'bazel' is not taken for a real Bazel"
else
  fail "tools/bazel on PATH as 'bazel' is not taken for a real Bazel" "status $status" "output: $out"
fi

# The probe's answer is cached: once the registry answered, a second run
# does not probe (it would fail now), until CAPSLAYER_BAZEL_REPROBE=1.
printf '{}' >"$tmp/registry.json"
run "CAPSLAYER_BAZEL_PROBE_URL=file://$tmp/registry.json" "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y '--define=a=b c'
rm "$tmp/registry.json"
run "CAPSLAYER_BAZEL_PROBE_URL=file://$tmp/registry.json" "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y '--define=a=b c'
expect_fake_called "a cached 'online' answer: no second probe"
run CAPSLAYER_BAZEL_REPROBE=1 "CAPSLAYER_BAZEL_PROBE_URL=file://$tmp/registry.json" "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y
if [[ -z $called && $status == 36 ]]; then
  pass "CAPSLAYER_BAZEL_REPROBE=1 probes again (and goes offline)"
else
  fail "CAPSLAYER_BAZEL_REPROBE=1 probes again (and goes offline)" "status $status" "fake saw: ${called:-<not called>}" "output: $out"
fi
run "CAPSLAYER_BAZEL_PROBE_URL=file://$tmp/registry.json" "BAZEL_REAL=$tmp/fake-bazel" -- build //x:y
if [[ -z $called && $status == 36 ]]; then
  pass "the new 'offline' answer is cached in turn"
else
  fail "the new 'offline' answer is cached in turn" "status $status" "fake saw: ${called:-<not called>}" "output: $out"
fi
rm -f "$tmp/cache/mode-decision"

run CAPSLAYER_BAZEL_MODE=sometimes -- build
if [[ $status == 36 && $out == *"must be auto, online, offline or shell, not 'sometimes'"* ]]; then
  pass "a bad CAPSLAYER_BAZEL_MODE is named in the error"
else
  fail "a bad CAPSLAYER_BAZEL_MODE is named in the error" "status $status" "output: $out"
fi

# --- which tiers a command needs --------------------------------------------

# tiers ARGS... prints the tiers provision.sh adds for tools/bazel ARGS, on
# one line.
tiers() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  env -i PATH=/usr/bin:/bin ${TIERS_KNOB:+"CAPSLAYER_BAZEL_TIERS=$TIERS_KNOB"} \
    bash -c 'source "$1" && shift && wanted_tiers "$@" | LC_ALL=C sort -u | paste -sd" "' provision "$ws/tools/offline/provision.sh" "$@"
}
tier_cases=(
  "offline build //...|"
  "offline run //examples:demo|"
  "offline test //...|e2e"
  "offline --output_base=/x test //e2e/...|e2e"
  "offline --nosystem_rc --bazelrc=/x coverage //...|e2e"
  "offline info|"
  "shell|e2e"
)
bad=()
for c in "${tier_cases[@]}"; do
  read -r -a words <<<"${c%%|*}"
  got=$(TIERS_KNOB='' tiers "${words[@]}")
  [[ $got == "${c#*|}" ]] || bad+=("${c%%|*}: got '$got', want '${c#*|}'")
done
got=$(TIERS_KNOB=cross,e2e tiers offline build //...)
[[ $got == "cross e2e" ]] || bad+=("CAPSLAYER_BAZEL_TIERS=cross,e2e build: got '$got'")
if ((${#bad[@]} == 0)); then
  pass "build and run need the core only; test, coverage and the shell the e2e tier; CAPSLAYER_BAZEL_TIERS adds tiers"
else
  fail "build and run need the core only; test, coverage and the shell the e2e tier; CAPSLAYER_BAZEL_TIERS adds tiers" "${bad[@]}"
fi
# shellcheck disable=SC2016 # expanded by the inner bash
out=$(env -i PATH=/usr/bin:/bin CAPSLAYER_BAZEL_TIERS=e2e,engines bash -c 'source "$1" && check_tiers_knob' provision "$ws/tools/offline/provision.sh" 2>&1) && status=0 || status=$?
if [[ $status == 36 && $out == *"unknown tier 'engines'"*"e2e cross"* ]]; then
  pass "an unknown tier in CAPSLAYER_BAZEL_TIERS is named in the error"
else
  fail "an unknown tier in CAPSLAYER_BAZEL_TIERS is named in the error" "status $status" "output: $out"
fi

# --- offline: registry unreachable ------------------------------------------

if command -v setpriv >/dev/null && [[ $(id -u) == 0 ]]; then
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env -i "PATH=/usr/sbin:/usr/bin:/sbin:/bin" \
    "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "BAZEL_REAL=$tmp/fake-bazel" "FAKE_BAZEL_LOG=$tmp/fake.log" \
    "$launcher" build 2>&1 </dev/null) && status=0 || status=$?
  non_root_out=$out
else
  run "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "BAZEL_REAL=$tmp/fake-bazel" -- build
  non_root_out=$out
fi
if [[ $(id -u) == 0 ]] && ! command -v setpriv >/dev/null; then
  skip "not root: tells the user to install Bazel or run as root" "no setpriv to drop root"
elif [[ $status == 36 && $non_root_out == *"needs root"* && $non_root_out == *"Install bazelisk"* && ! -f $tmp/fake.log ]]; then
  pass "registry unreachable, not root: does not run the real Bazel, says to install Bazel or run as root"
else
  fail "registry unreachable, not root: says to install Bazel or run as root" "status $status" "output: $non_root_out"
fi

if [[ $(id -u) != 0 ]]; then
  skip "offline provisioning cases" "need root"
else
  run "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "BAZEL_REAL=$tmp/fake-bazel" -- build
  if [[ $status == 36 && -z $called && $out == *"cannot reach the Debian mirror at http://127.0.0.1:9/dists/sid/InRelease"* && $out == *CAPSLAYER_DEBIAN_MIRROR* ]]; then
    pass "registry unreachable: goes offline, and an unreachable mirror fails early with a hint"
  else
    fail "registry unreachable: goes offline, and an unreachable mirror fails early with a hint" "status $status" "output: $out"
  fi

  # The host's mirror, as the launcher reads it from the apt sources.
  # shellcheck disable=SC2016 # expanded by the inner bash
  mirror=$(env -u CAPSLAYER_DEBIAN_MIRROR bash -c 'source "$1" && debian_mirror' provision "$ws/tools/offline/provision.sh")
  if curl -fsS -o /dev/null --max-time 20 "$mirror/dists/sid/InRelease" 2>/dev/null; then
    run "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "CAPSLAYER_DEBIAN_MIRROR=$mirror" GOPROXY=http://127.0.0.1:9 -- build
    if [[ $status == 36 && $out == *"cannot reach the Go module proxy at http://127.0.0.1:9/"* && $out == *"Set GOPROXY"* ]]; then
      pass "an unreachable Go proxy fails early with a hint"
    else
      fail "an unreachable Go proxy fails early with a hint" "status $status" "output: $out"
    fi
  else
    skip "an unreachable Go proxy fails early with a hint" "the Debian mirror $mirror is not reachable"
  fi

  # The recipe hash names the environment's folder. Work on a copy of the
  # launcher and its inputs, in a fake workspace.
  fakews=$tmp/ws
  mkdir -p "$fakews/tools"
  cp "$launcher" "$fakews/tools/bazel"
  cp -r "$here" "$fakews/tools/offline"
  # Provisioning builds with MODULE.bazel's Go SDK pin.
  cp "$ws/MODULE.bazel" "$fakews/MODULE.bazel"
  env_dir_of() {
    { "${base_env[@]}" "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "$fakews/tools/bazel" build 2>&1 </dev/null || true; } |
      sed -n 's/^tools\/bazel: provisioning the offline Bazel environment //p'
  }
  d0=$(env_dir_of)
  printf '\n# a new comment\n' >>"$fakews/tools/offline/packages/core.txt"
  d1=$(env_dir_of)
  printf 'hello\n' >>"$fakews/tools/offline/packages/core.txt"
  d2=$(env_dir_of)
  # Another tier's list has its own hash: the core environment stays.
  # shellcheck disable=SC2016 # expanded by the inner bash
  e0=$(bash -c 'source "$1" && tier_hash e2e' provision "$fakews/tools/offline/provision.sh")
  printf 'hello-e2e\n' >>"$fakews/tools/offline/packages/e2e.txt"
  # shellcheck disable=SC2016 # expanded by the inner bash
  e1=$(bash -c 'source "$1" && tier_hash e2e' provision "$fakews/tools/offline/provision.sh")
  d2e=$(env_dir_of)
  if [[ -n $e0 && $e0 != "$e1" && $d2e == "$d2" ]]; then
    pass "a change of the e2e tier's list changes its hash, not the environment's"
  else
    fail "a change of the e2e tier's list changes its hash, not the environment's" "e2e hash $e0 -> $e1" "environment $d2 -> $d2e"
  fi
  # The Go SDK that MODULE.bazel pins for this host builds gazelle's tools:
  # another pin is another environment; no pin is an error that says where.
  arch=$(bash -c 'source "$1" && host_arch' provision "$fakews/tools/offline/provision.sh")
  cp "$fakews/MODULE.bazel" "$tmp/MODULE.bazel.orig"
  sed -i -E "s/(\"linux_$arch\": \(\"[^\"]+\", \")[0-9a-f]{64}/\1$(printf 'f%.0s' {1..64})/" "$fakews/MODULE.bazel"
  dsdk=$(env_dir_of)
  sed -i -E "/\"linux_$arch\": /d" "$fakews/MODULE.bazel"
  out=$({ "${base_env[@]}" "CAPSLAYER_BAZEL_PROBE_URL=$unreachable" "$fakews/tools/bazel" build 2>&1 </dev/null; } && status=0 || status=$?; echo "status $status")
  cp "$tmp/MODULE.bazel.orig" "$fakews/MODULE.bazel"
  if [[ -n $dsdk && $dsdk != "$d2e" && $out == *"MODULE.bazel pins no Go SDK for linux_$arch"* && $out == *"status 36" ]]; then
    pass "MODULE.bazel's Go SDK pin names the environment, and a missing pin fails with where to add it"
  else
    fail "MODULE.bazel's Go SDK pin names the environment, and a missing pin fails with where to add it" \
      "environment $d2e -> $dsdk with another sha256" "without a pin: $out"
  fi
  printf '# a comment\n' >>"$fakews/tools/offline/stubs/zlib/BUILD.bazel"
  d3=$(env_dir_of)
  printf 'exports_files(["MODULE.bazel"])\n' >>"$fakews/tools/offline/stubs/zlib/BUILD.bazel"
  d4=$(env_dir_of)
  if [[ $d0 == "$tmp/cache/offline-"* && $d0 == "$d1" && $d2 != "$d1" && $d3 == "$d2" && $d4 != "$d3" ]]; then
    pass "the environment is renamed when a package or a stub changes, not when a comment does"
  else
    fail "the environment is renamed when a package or a stub changes, not when a comment does" \
      "base $d0" "comment in packages/core.txt $d1" "package added $d2" "comment in a stub $d3" "stub changed $d4"
  fi
fi

if [[ ${CAPSLAYER_LAUNCHER_TEST_OFFLINE:-} == 1 && $(id -u) == 0 ]]; then
  out=$(cd "$ws" && CAPSLAYER_BAZEL_MODE=shell "$launcher" -c 'cat /etc/rules_capslayer-offline && tools/bazel info release' 2>&1 </dev/null) && status=0 || status=$?
  if [[ $status == 0 && $out == *"development version"* ]]; then
    pass "inside the chroot, tools/bazel runs the chroot's Bazel"
  else
    fail "inside the chroot, tools/bazel runs the chroot's Bazel" "status $status" "output: $out"
  fi
fi

if ((failures)); then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all cases passed"
