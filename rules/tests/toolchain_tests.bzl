"""Tests of toolchain resolution per execution platform, and of //capslayer cross-built."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//rules:defs.bzl", "caps_layer", "capslayer_toolchain")
load("//rules/private:platforms.bzl", "PLATFORMS", "platform_toolchains")
load("//rules/private:transition.bzl", "GO_PLATFORMS", "HOST_NAMES", "platform_transition")

# ---------------------------------------------------------------------------
# A darwin execution platform gets the darwin capslayer, and so on: one fake
# capslayer per platform, declared with the same macro and constraints as the
# source toolchains (//rules/source) and the prebuilt ones
# (@capslayer_toolchains), then resolved for each execution platform.

def _fake_capslayers():
    for platform in sorted(PLATFORMS.keys()):
        native.genrule(
            name = "fake_capslayer_" + platform,
            outs = ["fake_%s/capslayer" % platform],
            cmd = "echo 'echo this fake capslayer is never run >&2; exit 1' > $@",
            executable = True,
            tags = ["manual"],
        )
        native.platform(
            name = "exec_" + platform,
            constraint_values = PLATFORMS[platform],
        )
        capslayer_toolchain(
            name = "fake_capslayer_%s_toolchain" % platform,
            capslayer = ":fake_capslayer_" + platform,
            tags = ["manual"],
        )

def _exec_platform_test_impl(ctx):
    env = analysistest.begin(ctx)
    action = [a for a in analysistest.target_actions(env) if a.mnemonic == "CapsLayer"][0]
    want = "fake_%s/capslayer" % ctx.attr.platform
    asserts.true(
        env,
        action.argv[0].endswith(want),
        "execution platform %s: want the capslayer %s, got %s" % (ctx.attr.platform, want, action.argv[0]),
    )
    return analysistest.end(env)

def _exec_platform_test(platform):
    return analysistest.make(
        _exec_platform_test_impl,
        attrs = {"platform": attr.string()},
        config_settings = {
            "//command_line_option:extra_execution_platforms": [str(Label("//rules/tests:exec_" + platform))],
            "//command_line_option:extra_toolchains": [
                str(Label("//rules/tests:fake_" + p))
                for p in sorted(PLATFORMS.keys())
            ],
        },
    )

# analysistest.make must be called at the top level of a .bzl file.
_exec_darwin_arm64_test = _exec_platform_test("darwin_arm64")
_exec_darwin_amd64_test = _exec_platform_test("darwin_amd64")
_exec_linux_amd64_test = _exec_platform_test("linux_amd64")
_exec_linux_arm64_test = _exec_platform_test("linux_arm64")
_exec_windows_amd64_test = _exec_platform_test("windows_amd64")

_EXEC_TESTS = {
    "darwin_amd64": _exec_darwin_amd64_test,
    "darwin_arm64": _exec_darwin_arm64_test,
    "linux_amd64": _exec_linux_amd64_test,
    "linux_arm64": _exec_linux_arm64_test,
    "windows_amd64": _exec_windows_amd64_test,
}

# ---------------------------------------------------------------------------
# The source toolchain: building for the host, caps_layer runs the
# capslayer of the target configuration (built once, with the workspace's
# own Go code and Go standard library); building for another platform, the
# exec configuration's.

def _source_config_test_impl(ctx):
    env = analysistest.begin(ctx)
    action = [a for a in analysistest.target_actions(env) if a.mnemonic == "CapsLayer"][0]
    tool = action.argv[0]
    asserts.true(env, tool.endswith("/capslayer/capslayer_/capslayer"), "want //capslayer from source, got %s" % tool)
    asserts.equals(
        env,
        ctx.attr.want_exec,
        "-exec" in tool,
        "%s: want the capslayer of the %s configuration, got %s" % (
            ctx.attr.case,
            "exec" if ctx.attr.want_exec else "target",
            tool,
        ),
    )
    return analysistest.end(env)

_source_config_host_test = analysistest.make(
    _source_config_test_impl,
    attrs = {"case": attr.string(), "want_exec": attr.bool()},
)

# --platforms naming rules_go's platform of the host (as workspaces that pin
# linux/amd64 do) is still the host.
_source_config_host_by_name_test = analysistest.make(
    _source_config_test_impl,
    attrs = {"case": attr.string(), "want_exec": attr.bool()},
    config_settings = {
        "//command_line_option:platforms": [GO_PLATFORMS[name] for name in HOST_NAMES[:1]],
    },
)

_source_config_cross_test = analysistest.make(
    _source_config_test_impl,
    attrs = {"case": attr.string(), "want_exec": attr.bool()},
    config_settings = {
        "//command_line_option:platforms": [str(Label("@rules_go//go/toolchain:linux_arm64"))],
    },
)

# ---------------------------------------------------------------------------
# //capslayer built for another platform through a transition.

def _platform_binary_impl(ctx):
    binary = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file("%s/%s" % (ctx.label.name, binary.basename))
    ctx.actions.symlink(output = out, target_file = binary)
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

platform_binary = rule(
    implementation = _platform_binary_impl,
    doc = "`binary` built for `platform` (caps_layer's transition).",
    attrs = {
        "binary": attr.label(mandatory = True, executable = True, cfg = platform_transition),
        "platform": attr.label(mandatory = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

def toolchain_test_suite(name):
    """Declares the toolchain resolution tests and their fakes.

    Args:
      name: name of the test_suite.
    """
    _fake_capslayers()
    platform_toolchains(name = "fake", toolchain = ":fake_capslayer_{platform}_toolchain")
    tests = []
    for platform in sorted(PLATFORMS.keys()):
        _EXEC_TESTS[platform](
            name = "exec_%s_test" % platform,
            target_under_test = ":exec_platform_layer",
            platform = platform,
        )
        tests.append(":exec_%s_test" % platform)
    _source_config_host_test(
        name = "source_config_host_test",
        target_under_test = ":exec_platform_layer",
        case = "building for the host",
        want_exec = False,
    )
    if HOST_NAMES:
        _source_config_host_by_name_test(
            name = "source_config_host_by_name_test",
            target_under_test = ":exec_platform_layer",
            case = "building for %s, named by rules_go's platform" % HOST_NAMES[0],
            want_exec = False,
        )
        tests.append(":source_config_host_by_name_test")
    _source_config_cross_test(
        name = "source_config_cross_test",
        target_under_test = ":exec_platform_layer",
        case = "building for linux/arm64 (the tool still runs on the host)",
        want_exec = False,
    )
    tests += [":source_config_host_test", ":source_config_cross_test"]
    caps_layer(
        name = "exec_platform_layer",
        binary = ":testdata/server.bin",
        path = "/app/server",
        caps = "cap_net_bind_service=ep",
        tags = ["manual"],
    )
    native.test_suite(name = name, tests = tests)
