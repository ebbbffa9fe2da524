#!/usr/bin/env bash
# Copies the generated rule reference over docs/rules.md in the workspace.
# Run with `tools/bazel run //docs:update`.
set -euo pipefail
: "${BUILD_WORKSPACE_DIRECTORY:?run me with bazel run //docs:update}"
install -m 0644 "$1" "$BUILD_WORKSPACE_DIRECTORY/docs/rules.md"
echo "updated docs/rules.md"
