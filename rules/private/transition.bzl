"""The platform transition caps_layer applies to the files it packs."""

_PLATFORMS = "//command_line_option:platforms"

def _platform_transition_impl(settings, attr):
    if not attr.platform:
        # No platform given: build the files for the target platform as usual.
        return {_PLATFORMS: settings[_PLATFORMS]}
    return {_PLATFORMS: [str(attr.platform)]}

# Builds `binary` and `files` for `platform` when it is set, so one BUILD file
# can produce the linux/amd64 and linux/arm64 layers of the same go_binary
# without --platforms on the command line.
platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)
