"""The capslayer toolchain. Private: load the public names from //rules:defs.bzl."""

load(":platforms.bzl", "PLATFORMS")
load(":providers.bzl", "CapslayerToolchainInfo")
load(":transition.bzl", "GO_PLATFORMS", "host_is", "targets_host")

# The one place the toolchain type label is spelled out; rules use this constant.
TOOLCHAIN_TYPE = str(Label("//rules:toolchain_type"))

_TOOLCHAIN_DOC = """Declares a `capslayer` binary as a toolchain.

rules_capslayer registers, for each execution platform (linux/amd64,
linux/arm64, darwin/amd64, darwin/arm64, windows/amd64), first the prebuilt
`capslayer` of its release (the `capslayer` module extension in
`@rules_capslayer//rules:extensions.bzl`: none in a git checkout), then
`capslayer` built from source (`@rules_capslayer//rules/source:all`, which
needs rules_go's Go SDK). Toolchains registered by the root module come
first, so a root module picks the source build with
`register_toolchains("@rules_capslayer//rules/source:all")`, or its own binary
(e.g. one you mirror internally) with a `capslayer_toolchain`:

```starlark
# tools/BUILD.bazel
load("@rules_capslayer//rules:defs.bzl", "capslayer_toolchain")

capslayer_toolchain(
    name = "capslayer_prebuilt",
    capslayer = "@capslayer_linux_amd64//file",  # e.g. from http_file(..., executable = True)
)

toolchain(
    name = "capslayer_prebuilt_toolchain",
    exec_compatible_with = [
        "@platforms//os:linux",
        "@platforms//cpu:x86_64",
    ],
    toolchain = ":capslayer_prebuilt",
    toolchain_type = "@rules_capslayer//rules:toolchain_type",
)
```

```starlark
# MODULE.bazel
register_toolchains("//tools:capslayer_prebuilt_toolchain")
```

The toolchain also provides the Make variable `$(CAPSLAYER_BIN)`; see
`@rules_capslayer//rules:resolved_toolchain`.
"""

def _toolchain_info(target, binary):
    files_to_run = target[DefaultInfo].files_to_run
    template_variables = platform_common.TemplateVariableInfo({
        "CAPSLAYER_BIN": binary.path,
    })
    default = DefaultInfo(
        files = depset([binary]),
        runfiles = target[DefaultInfo].default_runfiles,
    )
    capslayer_info = CapslayerToolchainInfo(
        binary = binary,
        files_to_run = files_to_run,
    )
    toolchain_info = platform_common.ToolchainInfo(
        capslayer_info = capslayer_info,
        template_variables = template_variables,
        default = default,
    )

    # The toolchain target itself has no outputs: `bazel build //...` would
    # otherwise build a capslayer for every execution platform declared (the
    # source toolchains of the platforms that are not the host would each be
    # an exec-configuration build nothing runs). Actions get the binary
    # through the ToolchainInfo, and resolved_toolchain exposes `default`.
    return [DefaultInfo(), toolchain_info, template_variables]

def _capslayer_toolchain_impl(ctx):
    return _toolchain_info(ctx.attr.capslayer, ctx.executable.capslayer)

capslayer_toolchain = rule(
    implementation = _capslayer_toolchain_impl,
    doc = _TOOLCHAIN_DOC,
    attrs = {
        "capslayer": attr.label(
            doc = "The `capslayer` executable: the `//capslayer` go_binary, or a prebuilt file " +
                  "for the execution platform. Built in the exec configuration.",
            mandatory = True,
            executable = True,
            allow_single_file = True,
            cfg = "exec",
        ),
    },
    provides = [platform_common.ToolchainInfo, platform_common.TemplateVariableInfo],
)

def _resolved_toolchain_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    return [
        toolchain,
        toolchain.default,
        toolchain.template_variables,
    ]

# Exposes the toolchain resolved for the current configuration as a target, so
# that genrules can use $(CAPSLAYER_BIN) (pattern from bazel-contrib/rules-template).
resolved_toolchain = rule(
    implementation = _resolved_toolchain_impl,
    doc = """The `capslayer` toolchain resolved for the current configuration, as a target.

Use it to run `capslayer` from a `genrule`:

```starlark
genrule(
    name = "xattr_hex",
    outs = ["xattr.hex"],
    cmd = "$(CAPSLAYER_BIN) encode cap_net_bind_service=ep > $@",
    toolchains = ["@rules_capslayer//rules:resolved_toolchain"],
)
```""",
    toolchains = [TOOLCHAIN_TYPE],
)

# The source toolchains: //capslayer built for the execution platform. When
# that platform is the host (the usual case: a Linux/amd64 machine building
# with local or same-platform remote execution), the exec configuration would
# compile capslayer, its dependencies and the whole Go standard library a
# second time, only because it is another configuration. So the toolchain
# then takes capslayer from a target configuration for the host instead:
# - when the build targets the host (no --platforms, the host platform, or
#   rules_go's platform with the host's constraints, as workspaces that pin
#   linux/amd64 name it), the current configuration itself, where the
#   workspace's own go_binary targets (and //capslayer itself) are built
#   anyway;
# - when it targets another platform (a linux/arm64 layer, base or image
#   built through a platform transition from a host build), the current
#   configuration with --platforms set to --host_platform. With Bazel's
#   default --platforms (the host platform) that is the build's top-level
#   configuration again, so a cross build reuses the host's capslayer too.
# Otherwise (an execution platform other than the host, coverage, which
# instruments target code) it takes the exec configuration's, as any tool.

_PLATFORMS_FLAG = "//command_line_option:platforms"
_HOST_PLATFORM_FLAG = "//command_line_option:host_platform"
_COVERAGE_FLAG = "//command_line_option:collect_code_coverage"

def _same_as_target_impl(settings, attr):
    if host_is(attr.platform) and not settings[_COVERAGE_FLAG]:
        if targets_host(settings[_PLATFORMS_FLAG], settings[_HOST_PLATFORM_FLAG]):
            # The target configuration itself: no new configuration.
            return {_PLATFORMS_FLAG: settings[_PLATFORMS_FLAG]}

        # The host's: the top-level configuration with the default --platforms.
        return {_PLATFORMS_FLAG: [str(settings[_HOST_PLATFORM_FLAG])]}

    # Not used then (the exec configuration's build is); analyzed for the
    # execution platform, so that analysis works for any target platform.
    return {_PLATFORMS_FLAG: [GO_PLATFORMS[attr.platform]]}

_same_as_target = transition(
    implementation = _same_as_target_impl,
    inputs = [_PLATFORMS_FLAG, _HOST_PLATFORM_FLAG, _COVERAGE_FLAG],
    outputs = [_PLATFORMS_FLAG],
)

def _source_toolchain_impl(ctx):
    if host_is(ctx.attr.platform) and not ctx.configuration.coverage_enabled:
        return _toolchain_info(ctx.attr.capslayer_target[0], ctx.executable.capslayer_target)
    return _toolchain_info(ctx.attr.capslayer, ctx.executable.capslayer)

source_capslayer_toolchain = rule(
    implementation = _source_toolchain_impl,
    doc = """`capslayer` built from source for the execution platform `platform`.

A target configuration's build for the host when the execution platform is
the host, the exec configuration's otherwise.""",
    attrs = {
        "capslayer": attr.label(
            doc = "The `capslayer` go_binary.",
            mandatory = True,
            executable = True,
            cfg = "exec",
        ),
        "capslayer_target": attr.label(
            doc = "The same go_binary, in a target configuration for the host.",
            mandatory = True,
            executable = True,
            cfg = _same_as_target,
        ),
        "platform": attr.string(
            doc = "The execution platform of the toolchain, a name of PLATFORMS.",
            mandatory = True,
            values = sorted(PLATFORMS.keys()),
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    provides = [platform_common.ToolchainInfo, platform_common.TemplateVariableInfo],
)
