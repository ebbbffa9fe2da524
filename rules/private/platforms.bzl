"""The execution platforms capslayer is built and released for. Private."""

# Platform name (GOOS_GOARCH, as in release file names) to the constraints of
# an execution platform that runs that binary.
PLATFORMS = {
    "darwin_amd64": [
        Label("@platforms//os:macos"),
        Label("@platforms//cpu:x86_64"),
    ],
    "darwin_arm64": [
        Label("@platforms//os:macos"),
        Label("@platforms//cpu:aarch64"),
    ],
    "linux_amd64": [
        Label("@platforms//os:linux"),
        Label("@platforms//cpu:x86_64"),
    ],
    "linux_arm64": [
        Label("@platforms//os:linux"),
        Label("@platforms//cpu:aarch64"),
    ],
    "windows_amd64": [
        Label("@platforms//os:windows"),
        Label("@platforms//cpu:x86_64"),
    ],
}

_TOOLCHAIN_TYPE = Label("//rules:toolchain_type")

def platform_toolchains(name, toolchain, platforms = None, visibility = None):
    """Declares one capslayer `toolchain` per execution platform.

    Toolchain resolution then picks, for each action, the `capslayer` built
    for the platform that runs it: a macOS laptop gets the darwin binary, a
    Linux remote executor the linux one. Used by the source toolchains
    (`//rules/source`), the prebuilt ones (the `capslayer` module extension's
    `@capslayer_toolchains`) and the tests, so all three use the same
    constraints.

    Args:
      name: prefix of the targets: `<name>_<platform>` for each platform.
      toolchain: the `capslayer_toolchain` target, with `{platform}` where the
        platform name goes (or without it, for one target serving all).
      platforms: the platforms to declare, default all of `PLATFORMS`.
      visibility: of the toolchain targets.
    """
    for platform in (platforms if platforms != None else sorted(PLATFORMS.keys())):
        native.toolchain(
            name = "%s_%s" % (name, platform),
            exec_compatible_with = PLATFORMS[platform],
            toolchain = toolchain.format(platform = platform),
            toolchain_type = _TOOLCHAIN_TYPE,
            visibility = visibility,
        )
