#!/usr/bin/env bash
# caps_policy_test is a real gate: the justified test of //examples/policy
# passes, and its twin without justifications (tagged manual, so //... does
# not run it) exits 1 and names every violation, as a user would see it in
# the test log. Both are run here exactly as `bazel test` runs them: their
# launcher, with this test's runfiles (which include theirs).
#
# Usage (from BUILD.bazel): policy_gate_test.sh PASSING_TEST FAILING_TEST \
#   PASSING_POLICY_JSON FAILING_POLICY_JSON
set -euo pipefail

passing=$1 failing=$2 passing_policy=$3 failing_policy=$4
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

pass() { echo "PASS: $1"; }
fail() {
  echo "FAIL: $1" >&2
  failures=$((failures + 1))
}

# run NAME SCRIPT: runs a policy test's launcher, keeping stdout, stderr and
# the exit status. SARIF goes to an outputs directory of our own; a `zip` on
# PATH tells the launcher that Bazel could collect it.
run() {
  local name=$1 script=$2
  mkdir -p "$tmp/$name.outputs" "$tmp/bin"
  printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/zip"
  chmod +x "$tmp/bin/zip"
  set +e
  PATH="$tmp/bin:$PATH" TEST_UNDECLARED_OUTPUTS_DIR="$tmp/$name.outputs" \
    "$script" >"$tmp/$name.out" 2>"$tmp/$name.err"
  echo $? >"$tmp/$name.rc"
  set -e
}

want_line() { # want_line WHAT FILE FIXED_STRING
  if grep -qF -- "$3" "$2"; then
    pass "$1"
  else
    fail "$1: no line with '$3' in $2:"
    cat "$2" >&2
  fi
}

# 1. The justified policy passes: exit 0, the table says why.
run passing "$passing"
if [ "$(cat "$tmp/passing.rc")" = 0 ]; then pass "justified policy test exits 0"; else
  fail "justified policy test exits $(cat "$tmp/passing.rc"), want 0:"
  cat "$tmp/passing.out" "$tmp/passing.err" >&2
fi
want_line "the table shows the justification" "$tmp/passing.out" "/usr/sbin/tcpdump  cap_net_admin,cap_net_raw=ep  ok (justified: NET_ADMIN, NET_RAW)"
want_line "the verdict is PASS" "$tmp/passing.out" "PASS: 0 errors"

# 2. The unjustified twin fails: exit 1 (a violation, not a usage error), one
# finding per violation with its fix, and the summary on stderr.
run failing "$failing"
if [ "$(cat "$tmp/failing.rc")" = 1 ]; then pass "unjustified policy test exits 1"; else
  fail "unjustified policy test exits $(cat "$tmp/failing.rc"), want 1:"
  cat "$tmp/failing.out" "$tmp/failing.err" >&2
fi
want_line "NET_ADMIN outside the profile" "$tmp/failing.out" "ERROR [capability-not-allowed] /usr/sbin/tcpdump (image capslayer/server:debug, layer 1) has CAP_NET_ADMIN"
want_line "NET_ADMIN needs a justification" "$tmp/failing.out" "ERROR [dangerous-capability] /usr/sbin/tcpdump (image capslayer/server:debug, layer 1) has CAP_NET_ADMIN, a dangerous capability"
want_line "NET_RAW needs a justification" "$tmp/failing.out" "ERROR [dangerous-capability] /usr/sbin/tcpdump (image capslayer/server:debug, layer 1) has CAP_NET_RAW, a dangerous capability"
want_line "the fix is spelled out in the rule's attributes" "$tmp/failing.out" 'fix: drop NET_RAW from /usr/sbin/tcpdump, or justify it: justifications = {"/usr/sbin/tcpdump:NET_RAW": "why the program needs it"}'
want_line "the verdict is FAIL" "$tmp/failing.out" "FAIL: 3 errors"
want_line "stderr names each violation" "$tmp/failing.err" "3 policy violations (/usr/sbin/tcpdump NET_ADMIN [capability-not-allowed]; /usr/sbin/tcpdump NET_ADMIN [dangerous-capability]; /usr/sbin/tcpdump NET_RAW [dangerous-capability])"
if grep -q '/app/server .*FAIL' "$tmp/failing.out"; then
  fail "the server's NET_BIND_SERVICE must pass under docker-default"
else
  pass "the server's NET_BIND_SERVICE is not a violation"
fi

# 3. The SARIF log lists the same three results.
sarif=$tmp/failing.outputs/audit.sarif
if [ -s "$sarif" ] && [ "$(grep -c '"ruleId"' "$sarif")" = 3 ]; then
  pass "audit.sarif has 3 results"
else
  fail "want audit.sarif with 3 results in the undeclared outputs, got:"
  ls -la "$tmp/failing.outputs" >&2
fi

# 4. The policies are what the BUILD file says: the reasons are in one, not
# in the other.
want_line "justification in the policy file" "$passing_policy" '"reason": "tcpdump captures packets through an AF_PACKET socket"'
if grep -q '"reason"' "$failing_policy"; then
  fail "the unjustified policy has a reason: $(cat "$failing_policy")"
else
  pass "the unjustified policy has no justification"
fi

echo "$((14 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
