"""The capslayer toolchain. Private: load the public names from //rules:defs.bzl."""

load(":providers.bzl", "CapslayerToolchainInfo")

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

def _capslayer_toolchain_impl(ctx):
    files_to_run = ctx.attr.capslayer[DefaultInfo].files_to_run
    binary = ctx.executable.capslayer
    template_variables = platform_common.TemplateVariableInfo({
        "CAPSLAYER_BIN": binary.path,
    })
    default = DefaultInfo(
        files = depset([binary]),
        runfiles = ctx.attr.capslayer[DefaultInfo].default_runfiles,
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
    return [default, toolchain_info, template_variables]

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
