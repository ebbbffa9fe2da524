"""What tools/release/build.sh released. Empty in git.

A release archive carries its own copy of this file, written by
tools/release/build.sh, with the version, the commit and the integrity of each
prebuilt `capslayer`. In a git checkout (local_path_override, git_override)
there are no prebuilt binaries: the capslayer extension then registers no
prebuilt toolchain and the source toolchain is used.
"""

RELEASE_VERSION = ""

RELEASE_COMMIT = ""

# Platform (as in rules/private/platforms.bzl) to file name and integrity.
RELEASE_BINARIES = {}
