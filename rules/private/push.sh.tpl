#!/usr/bin/env bash
# shellcheck disable=SC1083 # template placeholders %{...}, see below
# Pushes the OCI layout of a caps_image to a registry with `capslayer push`.
# Written by caps_image from rules/private/push.sh.tpl; run it with
# `bazel run <image>_push -- --repository HOST/REPO[:TAG] [--ca-file F]`.
set -euo pipefail

# The %{...} placeholders are replaced with shell-quoted values.
readonly CAPSLAYER=%{capslayer}
readonly LAYOUT=%{layout}
readonly LABEL=%{label}

runfiles=${RUNFILES_DIR:-}
if [[ -z $runfiles || ! -d $runfiles ]]; then
  if [[ -d "$0.runfiles" ]]; then
    runfiles="$0.runfiles"
  elif [[ $0 == *.runfiles/* ]]; then
    runfiles="${0%%.runfiles/*}.runfiles"
  else
    echo "${LABEL}_push: cannot find the runfiles of $0; run it with 'bazel run ${LABEL}_push -- --repository HOST/REPO:TAG'" >&2
    exit 2
  fi
fi
if [[ $# -eq 0 ]]; then
  echo "${LABEL}_push: give the destination: bazel run ${LABEL}_push -- --repository HOST/REPO[:TAG]" >&2
  exit 2
fi
# bazel run starts us in the runfiles; relative paths in the arguments
# (--ca-file) are the user's, from where bazel was run.
if [[ -n ${BUILD_WORKING_DIRECTORY:-} ]]; then
  cd "$BUILD_WORKING_DIRECTORY"
fi
exec "$runfiles/$CAPSLAYER" push "$@" -- "$runfiles/$LAYOUT"
