#!/usr/bin/env bash
# shellcheck disable=SC1083 # template placeholders %{...}, see below
# A caps_policy_test: `capslayer audit` of an image or layer against the
# policy written from the test's attributes. Written by caps_policy_test from
# rules/private/policy_test.sh.tpl. Exit status: audit's (0 pass, 1 violation,
# 2 unreadable input or policy).
set -euo pipefail

# The %{...} placeholders are replaced with shell-quoted values.
readonly CAPSLAYER=%{capslayer}
readonly POLICY=%{policy}
readonly IMAGE=%{image}

# The runfiles directory: set by bazel test (and by a test depending on this
# one); beside the script when it is run by hand.
runfiles=${RUNFILES_DIR:-${TEST_SRCDIR:-}}
if [[ -z $runfiles || ! -d $runfiles ]]; then
  if [[ -d "$0.runfiles" ]]; then
    runfiles="$0.runfiles"
  elif [[ $0 == *.runfiles/* ]]; then
    runfiles="${0%%.runfiles/*}.runfiles"
  else
    echo "cannot find the runfiles of $0; run it with bazel test" >&2
    exit 2
  fi
fi

# The SARIF log goes with the test's undeclared outputs, for CI to collect.
# Bazel zips them with `zip` after the test and fails the test when it
# cannot; without zip on PATH (minimal CI images) the log is left out.
sarif=()
if [[ -n ${TEST_UNDECLARED_OUTPUTS_DIR:-} ]] && command -v zip >/dev/null 2>&1; then
  sarif=(--sarif "$TEST_UNDECLARED_OUTPUTS_DIR/audit.sarif")
fi

# Relative paths, so the report names the image as <repo>/<package>/<file>.
# --hint-style bazel: each finding's fix names this rule's attributes
# (allow, justifications, max_caps, profile), not the CLI's flags.
cd "$runfiles"
exec "./$CAPSLAYER" audit --policy "$POLICY" --hint-style bazel "${sarif[@]}" "$IMAGE"
