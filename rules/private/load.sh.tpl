#!/usr/bin/env bash
# shellcheck disable=SC1083 # template placeholders %{...}, see below
# Loads the tarball of a caps_image into podman, or docker when podman is
# absent. Written by caps_image from rules/private/load.sh.tpl; run it with
# `bazel run <image>_load [-- LOAD_ARGS...]`.
#
# CAPSLAYER_LOAD_TOOL=podman|docker|PATH forces the tool (e.g. a wrapper that
# adds --root). Arguments go to `<tool> load`.
set -euo pipefail

# The %{...} placeholders are replaced with shell-quoted values.
readonly TARBALL=%{tarball}
readonly RUN_FLAGS=%{run_flags}
readonly TAG=%{tag}
readonly LABEL=%{label}

# The runfiles directory: bazel run sets RUNFILES_DIR or runs us beside
# <script>.runfiles; a test that depends on us sets RUNFILES_DIR.
runfiles=${RUNFILES_DIR:-}
if [[ -z $runfiles || ! -d $runfiles ]]; then
  if [[ -d "$0.runfiles" ]]; then
    runfiles="$0.runfiles"
  elif [[ $0 == *.runfiles/* ]]; then
    runfiles="${0%%.runfiles/*}.runfiles"
  else
    echo "${LABEL}_load: cannot find the runfiles of $0; run it with 'bazel run ${LABEL}_load'" >&2
    exit 2
  fi
fi
tarball="$runfiles/$TARBALL"
if [[ ! -f $tarball ]]; then
  echo "${LABEL}_load: the image tarball $tarball is missing; run it with 'bazel run ${LABEL}_load'" >&2
  exit 2
fi

tool=${CAPSLAYER_LOAD_TOOL:-}
if [[ -z $tool ]]; then
  if command -v podman >/dev/null 2>&1; then
    tool=podman
  elif command -v docker >/dev/null 2>&1; then
    tool=docker
  else
    # Builtins only: PATH may hold nothing at all.
    {
      echo "${LABEL}_load: neither podman nor docker is on PATH ($PATH)."
      echo "Install one of them, or set CAPSLAYER_LOAD_TOOL to a docker-compatible CLI."
      echo "The image is also a file that any machine can load:"
      echo "  docker load -i $tarball"
    } >&2
    exit 1
  fi
fi

"$tool" load --input "$tarball" "$@"

flags=$(cat "$runfiles/$RUN_FLAGS")
name=$(basename "$tool")
echo "$TAG loaded into $name. Run it with:"
echo "  $name run --rm${flags:+ $flags} $TAG"
