"""The platform transition caps_layer applies to the files it packs, and what
it knows about the host."""

load("@platforms//host:constraints.bzl", "HOST_CONSTRAINTS")
load(":platforms.bzl", "PLATFORMS")

_PLATFORMS = "//command_line_option:platforms"
_HOST_PLATFORM = "//command_line_option:host_platform"

_HOST = sorted([str(Label(c)) for c in HOST_CONSTRAINTS])

def host_is(platform):
    """Whether the host has the constraints of `platform` (a PLATFORMS key)."""
    return sorted([str(c) for c in PLATFORMS[platform]]) == _HOST

# rules_go's platform for each name of PLATFORMS (any platform with these
# constraints would do).
GO_PLATFORMS = {name: str(Label("@rules_go//go/toolchain:" + name)) for name in PLATFORMS}

# The names of PLATFORMS that are the host, by constraints: ["linux_amd64"]
# on a linux/amd64 machine, none on a host no release is built for.
HOST_NAMES = [name for name in sorted(PLATFORMS.keys()) if host_is(name)]

# rules_go's platforms that are the host: on a linux/amd64 machine,
# @rules_go//go/toolchain:linux_amd64.
_HOST_GO_PLATFORMS = [GO_PLATFORMS[name] for name in HOST_NAMES]

def targets_host(platforms, host_platform):
    """Whether the --platforms value `platforms` builds for the host.

    True for none, the host platform, and rules_go's platform with the host's
    constraints (what a workspace names to pin linux/amd64, as rules_oci's
    multi-platform images do).
    """
    return [str(p) for p in platforms] in [[], [str(host_platform)]] + [[p] for p in _HOST_GO_PLATFORMS]

def _platform_transition_impl(settings, attr):
    if not attr.platform:
        # No platform given: build the files for the target platform as usual.
        return {_PLATFORMS: settings[_PLATFORMS]}
    if (str(attr.platform) in _HOST_GO_PLATFORMS and
        targets_host(settings[_PLATFORMS], settings[_HOST_PLATFORM])):
        # The platform asked for is the host's, and the build targets the
        # host: the same constraints, so the same toolchains and the same
        # bytes. Staying in the current configuration builds the files (and
        # the Go standard library under them) once, not once per name of the
        # platform.
        return {_PLATFORMS: settings[_PLATFORMS]}
    return {_PLATFORMS: [str(attr.platform)]}

# Builds `binary` and `files` for `platform` when it is set, so one BUILD file
# can produce the linux/amd64 and linux/arm64 layers of the same go_binary
# without --platforms on the command line.
platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [_PLATFORMS, _HOST_PLATFORM],
    outputs = [_PLATFORMS],
)
