"""Analysis tests of caps_layer: outputs, provider, action, and fail() texts."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("@bazel_skylib//rules:build_test.bzl", "build_test")
load("//rules:defs.bzl", "CapsLayerInfo", "caps_image", "caps_labels", "caps_layer")
load("//rules/private:transition.bzl", "GO_PLATFORMS", "HOST_NAMES")
load(":failure.bzl", "failure_tests")

_TESTDATA = "rules/tests/testdata/"

def _basenames(files):
    return [f.basename for f in files]

def _argv_after_executable(action):
    # action.argv[0] is the capslayer executable.
    return action.argv[1:]

# ---------------------------------------------------------------------------
# Outputs, provider and action of the simplest layer.

def _simple_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    name = target.label.name

    asserts.equals(env, [name + ".tar"], _basenames(target[DefaultInfo].files.to_list()), "default outputs")
    asserts.equals(env, [name + ".descriptor.json"], _basenames(target[OutputGroupInfo].descriptor.to_list()), "descriptor output group")

    info = target[CapsLayerInfo]
    asserts.equals(env, name + ".tar", info.layer.basename)
    asserts.equals(env, name + ".descriptor.json", info.descriptor.basename)
    asserts.equals(env, "none", info.compression)
    asserts.equals(env, "application/vnd.oci.image.layer.v1.tar", info.media_type)
    asserts.equals(env, {"/app/server": "cap_net_bind_service=ep"}, info.caps)
    asserts.equals(env, [_TESTDATA + "server.bin"], [f.short_path for f in info.files.values()])
    asserts.true(env, info.platform.startswith("linux/"), "the OCI platform of the target platform, got %r" % info.platform)

    actions = analysistest.target_actions(env)
    asserts.equals(env, ["CapsLayer", "CapsLayerDescriptor", "CapsLabels"], [a.mnemonic for a in actions], "a layer action, a descriptor action and a labels action")
    action = actions[0]
    asserts.equals(env, [
        "layer",
        "--binary",
        _TESTDATA + "server.bin",
        "--path",
        "/app/server",
        "--caps",
        "cap_net_bind_service=ep",
        "--mode",
        "0755",
        "--owner",
        "0:0",
        "--mtime",
        "0",
        "--compression",
        "none",
        "--output",
        info.layer.path,
        "--hint-style",
        "bazel",
    ], _argv_after_executable(action))
    asserts.equals(env, [info.layer.path], [f.path for f in action.outputs.to_list()], "the layer action writes the layer only")
    asserts.true(env, _TESTDATA + "server.bin" in [f.short_path for f in action.inputs.to_list()], "binary is an input")
    asserts.true(env, action.argv[0].endswith("capslayer"), "runs the capslayer from the default toolchain, got %s" % action.argv[0])

    # Nothing from the host environment: no SOURCE_DATE_EPOCH, TZ, LANG, PATH.
    asserts.equals(env, {}, action.env, "action env")

    # The descriptor comes from the layer alone, in an action of its own
    # that runs only when something needs the descriptor.
    describe = actions[1]
    asserts.equals(env, [
        "describe",
        "--compression",
        "none",
        "--output",
        info.descriptor.path,
        info.layer.path,
    ], _argv_after_executable(describe))
    asserts.equals(env, [info.layer.path], [f.path for f in describe.inputs.to_list() if f.path.endswith(".tar")], "the layer is the only tar input")
    asserts.false(env, _TESTDATA + "server.bin" in [f.short_path for f in describe.inputs.to_list()], "the sources are not inputs of the descriptor action")
    asserts.equals(env, [info.descriptor.path], [f.path for f in describe.outputs.to_list()])
    asserts.equals(env, {}, describe.env, "descriptor action env")
    return analysistest.end(env)

_simple_test = analysistest.make(_simple_test_impl)

# ---------------------------------------------------------------------------
# Every attribute set, several files, gzip.

def _full_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    name = target.label.name
    info = target[CapsLayerInfo]

    asserts.equals(env, [name + ".tar.gz"], _basenames(target[DefaultInfo].files.to_list()))
    asserts.equals(env, "gzip", info.compression)
    asserts.equals(env, "application/vnd.oci.image.layer.v1.tar+gzip", info.media_type)
    asserts.equals(env, {
        "/app/server": "cap_net_bind_service=p",
        "/usr/bin/tcpdump": "cap_net_raw,cap_net_admin=ep",
        "/etc/server/config.json": "",
    }, info.caps)
    asserts.equals(env, {
        "/app/server": _TESTDATA + "server.bin",
        "/usr/bin/tcpdump": _TESTDATA + "tcpdump.bin",
        "/etc/server/config.json": _TESTDATA + "config.json",
    }, {k: v.short_path for k, v in info.files.items()})

    action = analysistest.target_actions(env)[0]
    tcpdump = info.files["/usr/bin/tcpdump"].path
    config = info.files["/etc/server/config.json"].path
    asserts.equals(env, [
        "layer",
        "--binary",
        info.files["/app/server"].path,
        "--path",
        "/app/server",
        "--caps",
        "cap_net_bind_service=p",
        "--file",
        "/usr/bin/tcpdump=" + tcpdump + ":cap_net_raw,cap_net_admin=ep",
        "--file",
        "/etc/server/config.json=" + config,
        "--mode",
        "0555",
        "--owner",
        "65532:65532",
        "--mtime",
        "1700000000",
        "--rootid",
        "100000",
        "--compression",
        "gzip",
        "--output",
        info.layer.path,
        "--hint-style",
        "bazel",
    ], _argv_after_executable(action))
    asserts.equals(
        env,
        sorted([_TESTDATA + f for f in ["server.bin", "tcpdump.bin", "config.json"]]),
        sorted([f.short_path for f in action.inputs.to_list() if f.short_path.startswith(_TESTDATA)]),
    )
    return analysistest.end(env)

_full_test = analysistest.make(_full_test_impl)

def _zstd_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[CapsLayerInfo]
    asserts.equals(env, [target.label.name + ".tar.zst"], _basenames(target[DefaultInfo].files.to_list()))
    asserts.equals(env, "application/vnd.oci.image.layer.v1.tar+zstd", info.media_type)

    # A layer of `files` only, no `binary`.
    asserts.equals(env, {"/usr/bin/tcpdump": "cap_net_raw=p"}, info.caps)
    argv = _argv_after_executable(analysistest.target_actions(env)[0])
    asserts.false(env, "--binary" in argv, "no --binary without binary: %s" % argv)
    asserts.false(env, "--rootid" in argv, "no --rootid when rootid is 0: %s" % argv)
    return analysistest.end(env)

_zstd_test = analysistest.make(_zstd_test_impl)

# ---------------------------------------------------------------------------
# `platform` builds the files in another configuration.

def _platform_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[CapsLayerInfo]
    host = ctx.attr.host_layer[CapsLayerInfo]
    asserts.equals(env, "linux/arm64", info.platform)
    transitioned = info.files["/app/gen"]
    plain = host.files["/app/gen"]
    asserts.equals(env, plain.short_path, transitioned.short_path, "same file")
    asserts.true(
        env,
        transitioned.root.path != plain.root.path,
        "the generated file must be built in another configuration, both are in %s" % plain.root.path,
    )
    return analysistest.end(env)

_platform_test = analysistest.make(
    _platform_test_impl,
    attrs = {"host_layer": attr.label(providers = [CapsLayerInfo])},
)

# `platform` naming the host's own platform, when the build targets the host,
# keeps the files in the layer's configuration: the same constraints, so the
# same bytes, built once.

def _host_platform_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[CapsLayerInfo]
    asserts.equals(env, ctx.attr.want_platform, info.platform)
    layer = target[DefaultInfo].files.to_list()[0]
    generated = info.files["/app/gen"]
    asserts.equals(
        env,
        layer.root.path,
        generated.root.path,
        "platform = the host's: the file must stay in the layer's configuration",
    )
    return analysistest.end(env)

_host_platform_test = analysistest.make(
    _host_platform_test_impl,
    attrs = {"want_platform": attr.string()},
)

# ---------------------------------------------------------------------------
# A toolchain registered first wins (how users swap in a prebuilt capslayer).

def _prebuilt_toolchain_test_impl(ctx):
    env = analysistest.begin(ctx)
    action = analysistest.target_actions(env)[0]
    asserts.true(
        env,
        action.argv[0].endswith(_TESTDATA + "fake_capslayer.sh"),
        "the extra toolchain's binary must run, got %s" % action.argv[0],
    )
    return analysistest.end(env)

_prebuilt_toolchain_test = analysistest.make(
    _prebuilt_toolchain_test_impl,
    config_settings = {
        "//command_line_option:extra_toolchains": [str(Label("//rules/tests:fake_capslayer_toolchain"))],
    },
)

# ---------------------------------------------------------------------------
# `allow_unsafe_mode` reaches the layer action of each kind of layer.

def _allow_unsafe_mode_test_impl(ctx):
    env = analysistest.begin(ctx)
    argv = _argv_after_executable(analysistest.target_actions(env)[0])
    asserts.equals(env, 1, len([a for a in argv if a == "--allow-unsafe-mode"]), "--allow-unsafe-mode once: %s" % argv)
    return analysistest.end(env)

_allow_unsafe_mode_test = analysistest.make(_allow_unsafe_mode_test_impl)

def _no_allow_unsafe_mode_test_impl(ctx):
    env = analysistest.begin(ctx)
    argv = _argv_after_executable(analysistest.target_actions(env)[0])
    asserts.false(env, "--allow-unsafe-mode" in argv, "no --allow-unsafe-mode by default: %s" % argv)
    return analysistest.end(env)

_no_allow_unsafe_mode_test = analysistest.make(_no_allow_unsafe_mode_test_impl)

# ---------------------------------------------------------------------------
# `tars` + `file_caps`: capabilities on files of an existing tar.

def _tar_rewrite_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    name = target.label.name
    info = target[CapsLayerInfo]

    asserts.equals(env, [name + ".tar.gz"], _basenames(target[DefaultInfo].files.to_list()), "default outputs")
    asserts.equals(env, [name + ".descriptor.json"], _basenames(target[OutputGroupInfo].descriptor.to_list()))
    asserts.equals(env, "gzip", info.compression)
    asserts.equals(env, "application/vnd.oci.image.layer.v1.tar+gzip", info.media_type)
    asserts.equals(env, {"/bin/ping": "cap_net_raw=p", "/bin/arping": "cap_net_raw,cap_net_admin=ep"}, info.caps)
    asserts.equals(env, {}, info.files, "a layer from tars has no files of its own")

    actions = analysistest.target_actions(env)
    asserts.equals(env, ["CapsLayer", "CapsLayerDescriptor", "CapsLabels"], [a.mnemonic for a in actions], "a layer action, a descriptor action and a labels action")
    action = actions[0]
    tar = [f for f in action.inputs.to_list() if f.short_path == _TESTDATA + "base.tar"]
    asserts.equals(env, 1, len(tar), "the tar is an input")

    # --set in path order, whatever the order in BUILD; no --mode, --owner,
    # --mtime: the entries keep theirs.
    asserts.equals(env, [
        "layer",
        "--from-tar",
        tar[0].path if tar else "",
        "--set",
        "/bin/arping=cap_net_raw,cap_net_admin=ep",
        "--set",
        "/bin/ping=cap_net_raw=p",
        "--rootid",
        "100000",
        "--compression",
        "gzip",
        "--output",
        info.layer.path,
        "--hint-style",
        "bazel",
    ], _argv_after_executable(action))
    asserts.equals(env, {}, action.env, "action env")

    # The descriptor lists the files file_caps names, as --from-tar does.
    asserts.equals(env, [
        "describe",
        "--path",
        "/bin/arping",
        "--path",
        "/bin/ping",
        "--compression",
        "gzip",
        "--output",
        info.descriptor.path,
        info.layer.path,
    ], _argv_after_executable(actions[1]))
    return analysistest.end(env)

_tar_rewrite_test = analysistest.make(_tar_rewrite_test_impl)

# ---------------------------------------------------------------------------
# fail() texts. Each target is tagged manual so //... does not build it.

# name -> (caps_layer kwargs, expected message after "<package>:<name>: ").
_FAILURES = {
    "bad_path_relative": (
        {"path": "app/server"},
        "'path' must be absolute, got \"app/server\"; write \"/app/server\"",
    ),
    "bad_path_dotdot": (
        {"path": "/app/../etc/passwd"},
        "'path' must be a clean path without \"//\", \".\" or \"..\" segments, got \"/app/../etc/passwd\"",
    ),
    "bad_path_dir": (
        {"path": "/app/"},
        "'path' must name a file, got \"/app/\" with a trailing \"/\"; write \"/app\"",
    ),
    "bad_mode": (
        {"mode": "rwxr-xr-x"},
        "'mode' must be 3 or 4 octal digits such as \"0755\", got \"rwxr-xr-x\"",
    ),
    "bad_owner": (
        {"owner": "nonroot:nonroot"},
        "'owner' must be numeric \"UID:GID\" such as \"65532:65532\", got \"nonroot:nonroot\" (user names are not resolved: images have no host /etc/passwd)",
    ),
    "bad_mtime": (
        {"mtime": -1},
        "'mtime' must be between 0 and 2147483647, got -1",
    ),
    "bad_rootid": (
        {"rootid": -5},
        "'rootid' must be between 0 and 4294967294, got -5",
    ),
    "empty_caps": (
        {"caps": ""},
        "'caps' is empty; give capabilities as setcap does, e.g. \"cap_net_bind_service=ep\"",
    ),
    "file_caps_unknown_path": (
        {
            "files": {":testdata/tcpdump.bin": "/usr/bin/tcpdump"},
            "file_caps": {"/usr/sbin/tcpdump": "cap_net_raw=p"},
        },
        "'file_caps' has \"/usr/sbin/tcpdump\", which is not a destination in 'files' (\"/usr/bin/tcpdump\"); add the file to 'files' or fix the path",
    ),
    "file_caps_for_binary": (
        {"file_caps": {"/app/server": "cap_net_raw=p"}},
        "'file_caps' has \"/app/server\", the destination of 'binary'; give its capabilities in 'caps' instead",
    ),
    "empty_file_caps": (
        {
            "files": {":testdata/tcpdump.bin": "/usr/bin/tcpdump"},
            "file_caps": {"/usr/bin/tcpdump": ""},
        },
        "'file_caps[\"/usr/bin/tcpdump\"]' is empty; give capabilities as setcap does, e.g. \"cap_net_bind_service=ep\"",
    ),
    "duplicate_destination": (
        {"files": {":testdata/tcpdump.bin": "/app/server"}},
        "destination \"/app/server\" is given twice (in 'path' and in 'files'); each path in the layer holds one file",
    ),
    "bad_files_path": (
        {"files": {":testdata/tcpdump.bin": "usr/bin/tcpdump"}},
        "'files' must be absolute, got \"usr/bin/tcpdump\"; write \"/usr/bin/tcpdump\"",
    ),
    "path_without_binary": (
        {"binary": None, "caps": "", "files": {":testdata/tcpdump.bin": "/usr/bin/tcpdump"}},
        "'path' and 'caps' describe 'binary', which is not set; set 'binary' or put the file in 'files'",
    ),
    "empty_layer": (
        {"binary": None, "path": "", "caps": ""},
        "the layer would be empty; set 'binary' (with 'path' and 'caps'), 'files', or 'tars' (with 'file_caps')",
    ),
    "binary_two_files": (
        {"binary": ":two_files"},
        "'binary' target @@//rules/tests:two_files gives 2 files (rules/tests/testdata/server.bin, rules/tests/testdata/tcpdump.bin); caps_layer needs one file per destination: use a rule that outputs one executable, or a filegroup with one file",
    ),
}

# name -> (caps_layer kwargs on top of a valid `tars` layer, expected message).
# :extra.tar and :two_tars (extra.tar, more.tar.gz) are caps_image_tests'.
_TAR_FAILURES = {
    "tars_with_binary": (
        {"binary": ":testdata/server.bin"},
        "'binary' does not go with 'tars': the layer is the tar with capabilities set on the files 'file_caps' names; put other files in a caps_layer of their own",
    ),
    "tars_with_path": (
        {"path": "/app/server"},
        "'path' does not go with 'tars': the layer is the tar with capabilities set on the files 'file_caps' names; put other files in a caps_layer of their own",
    ),
    "tars_with_caps": (
        {"caps": "cap_net_raw=p"},
        "'caps' is for 'binary', which does not go with 'tars'; give the capabilities of the tar's files by path in 'file_caps', e.g. file_caps = {\"/bin/ping\": \"cap_net_raw=p\"}",
    ),
    "tars_with_files": (
        {"files": {":testdata/tcpdump.bin": "/usr/bin/tcpdump"}},
        "'files' does not go with 'tars': the layer is the tar with capabilities set on the files 'file_caps' names; put other files in a caps_layer of their own",
    ),
    "tars_with_mode": (
        {"mode": "0555"},
        "'mode' does not go with 'tars': the tar's entries keep their own modes, owners and mtimes",
    ),
    "tars_with_owner": (
        {"owner": "65532:65532"},
        "'owner' does not go with 'tars': the tar's entries keep their own modes, owners and mtimes",
    ),
    "tars_with_mtime": (
        {"mtime": 1700000000},
        "'mtime' does not go with 'tars': the tar's entries keep their own modes, owners and mtimes",
    ),
    "tars_without_file_caps": (
        {"file_caps": {}},
        "'tars' needs 'file_caps' to name the files of the tar to give capabilities, e.g. file_caps = {\"/bin/ping\": \"cap_net_raw=p\"}",
    ),
    "tars_relative_path": (
        {"file_caps": {"bin/ping": "cap_net_raw=p"}},
        "'file_caps' must be absolute, got \"bin/ping\"; write \"/bin/ping\"",
    ),
    "tars_path_with_equals": (
        {"file_caps": {"/bin/a=b": "cap_net_raw=p"}},
        "'file_caps' path \"/bin/a=b\" contains \"=\", which capslayer --set cannot carry",
    ),
    "tars_empty_caps": (
        {"file_caps": {"/bin/ping": " "}},
        "'file_caps[\"/bin/ping\"]' is empty; give capabilities as setcap does, e.g. \"cap_net_bind_service=ep\"",
    ),
    "tars_two_tars": (
        {"tars": [":testdata/base.tar", ":extra.tar"]},
        "'tars' gives 2 files (rules/tests/testdata/base.tar, rules/tests/extra.tar); caps_layer sets capabilities in one tar: give the other tars to the image as layers of their own (oci_image(tars = ...), caps_image(layers = ...)), or merge them first with pkg_tar(deps = ...)",
    ),
    "tars_filegroup_of_two": (
        {"tars": [":two_tars"]},
        "'tars' gives 2 files (rules/tests/extra.tar, rules/tests/more.tar.gz); caps_layer sets capabilities in one tar: give the other tars to the image as layers of their own (oci_image(tars = ...), caps_image(layers = ...)), or merge them first with pkg_tar(deps = ...)",
    ),
}

# ---------------------------------------------------------------------------
# `base` + `file_caps`: a copy-up layer of files of a base image.

def _copy_up_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    name = target.label.name
    info = target[CapsLayerInfo]
    asserts.equals(env, [name + ".tar"], _basenames(target[DefaultInfo].files.to_list()), "default outputs")
    asserts.equals(env, [name + ".labels"], _basenames(target[OutputGroupInfo].labels.to_list()), "labels output group")
    asserts.equals(env, name + ".labels", info.labels.basename)
    asserts.equals(env, {"/bin/ping": "cap_net_raw=p"}, info.caps)
    asserts.equals(env, {}, info.files, "a copy-up layer has no files of its own")

    actions = analysistest.target_actions(env)
    asserts.equals(env, ["CapsLayer", "CapsLayerDescriptor", "CapsLabels"], [a.mnemonic for a in actions])
    action = actions[0]
    layouts = [f for f in action.inputs.to_list() if f.basename == ctx.attr.base_name]
    asserts.equals(env, 1, len(layouts), "the base layout is an input")

    # The platform of a multi-platform base is the target platform's (here
    # the transitioned arm64), named as OCI names it.
    asserts.equals(env, [
        "layer",
        "--from-image",
        layouts[0].path if layouts else "",
        "--platform",
        ctx.attr.platform,
        "--replace-caps",
        "--set",
        "/bin/ping=cap_net_raw=p",
        "--compression",
        "none",
        "--output",
        info.layer.path,
        "--hint-style",
        "bazel",
    ], _argv_after_executable(action))

    # The descriptor lists the layer's files, at their resolved paths.
    asserts.equals(env, [
        "describe",
        "--compression",
        "none",
        "--output",
        info.descriptor.path,
        info.layer.path,
    ], _argv_after_executable(actions[1]))
    asserts.equals(env, ["labels", "--output", info.labels.path, info.layer.path], _argv_after_executable(actions[2]))
    return analysistest.end(env)

_copy_up_test = analysistest.make(
    _copy_up_test_impl,
    attrs = {"base_name": attr.string(), "platform": attr.string()},
)

def _labels_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    out = target[DefaultInfo].files.to_list()
    asserts.equals(env, [target.label.name + ".labels"], _basenames(out))
    actions = analysistest.target_actions(env)
    asserts.equals(env, ["CapsLabels"], [a.mnemonic for a in actions])
    argv = _argv_after_executable(actions[0])
    base = [f for f in actions[0].inputs.to_list() if f.basename == ctx.attr.base_name]
    layer = [f for f in actions[0].inputs.to_list() if f.basename == ctx.attr.layer_name]
    asserts.equals(env, [
        "labels",
        "--output",
        out[0].path,
        "--base",
        base[0].path if base else "",
        "--platform",
        "linux/amd64",
        layer[0].path if layer else "",
    ], argv)
    asserts.equals(env, {}, actions[0].env)
    return analysistest.end(env)

_labels_test = analysistest.make(
    _labels_test_impl,
    attrs = {"base_name": attr.string(), "layer_name": attr.string()},
)

_COPY_UP_FAILURES = {
    "base_with_binary": (
        {"binary": ":testdata/server.bin"},
        "'binary' does not go with 'base': the layer is a copy-up of the base's files 'file_caps' names; put other files in a caps_layer of their own",
    ),
    "base_with_tars": (
        {"tars": [":testdata/base.tar"]},
        "'tars' does not go with 'base': the layer is a copy-up of the base's files 'file_caps' names; put other files in a caps_layer of their own",
    ),
    "base_with_caps": (
        {"caps": "cap_net_raw=p"},
        "'caps' is for 'binary', which does not go with 'base'; give the capabilities of the base's files by path in 'file_caps', e.g. file_caps = {\"/usr/sbin/nginx\": \"cap_net_bind_service=ep\"}",
    ),
    "base_with_mode": (
        {"mode": "0700"},
        "'mode' does not go with 'base': the copied files keep the base image's modes, owners and mtimes",
    ),
    "base_without_file_caps": (
        {"file_caps": {}},
        "'base' needs 'file_caps' to name the files of the base image to give capabilities, e.g. file_caps = {\"/usr/sbin/nginx\": \"cap_net_bind_service=ep\"}",
    ),
    "base_relative_path": (
        {"file_caps": {"bin/ping": "cap_net_raw=p"}},
        "'file_caps' must be absolute, got \"bin/ping\"; write \"/bin/ping\"",
    ),
    "replace_caps_without_base": (
        {"base": None, "tars": [":testdata/base.tar"]},
        "'replace_caps' is for the files of 'base', which is not set",
    ),
}

def caps_layer_test_suite(name):
    """Declares the analysis tests of caps_layer and the targets they check.

    Args:
      name: name of the test_suite.
    """
    tests = []

    caps_layer(
        name = "simple",
        binary = ":testdata/server.bin",
        path = "/app/server",
        caps = "cap_net_bind_service=ep",
        tags = ["manual"],
    )
    _simple_test(name = "simple_test", target_under_test = ":simple")
    tests.append(":simple_test")

    caps_layer(
        name = "full",
        binary = ":testdata/server.bin",
        path = "/app/server",
        caps = "cap_net_bind_service=p",
        files = {
            ":testdata/tcpdump.bin": "/usr/bin/tcpdump",
            ":testdata/config.json": "/etc/server/config.json",
        },
        file_caps = {"/usr/bin/tcpdump": "cap_net_raw,cap_net_admin=ep"},
        mode = "0555",
        owner = "65532:65532",
        mtime = 1700000000,
        rootid = 100000,
        compression = "gzip",
        tags = ["manual"],
    )
    _full_test(name = "full_test", target_under_test = ":full")
    tests.append(":full_test")

    caps_layer(
        name = "zstd_files_only",
        files = {":testdata/tcpdump.bin": "/usr/bin/tcpdump"},
        file_caps = {"/usr/bin/tcpdump": "cap_net_raw=p"},
        compression = "zstd",
        tags = ["manual"],
    )
    _zstd_test(name = "zstd_files_only_test", target_under_test = ":zstd_files_only")
    tests.append(":zstd_files_only_test")

    native.genrule(
        name = "generated",
        outs = ["generated.bin"],
        cmd = "echo generated > $@",
        tags = ["manual"],
    )
    caps_layer(
        name = "generated_host",
        binary = ":generated",
        path = "/app/gen",
        caps = "cap_chown=p",
        tags = ["manual"],
    )
    caps_layer(
        name = "generated_arm64",
        binary = ":generated",
        path = "/app/gen",
        caps = "cap_chown=p",
        platform = ":arm64_linux",
        tags = ["manual"],
    )
    _platform_test(name = "platform_test", target_under_test = ":generated_arm64", host_layer = ":generated_host")
    tests.append(":platform_test")
    for name in HOST_NAMES:
        caps_layer(
            name = "generated_host_by_name",
            binary = ":generated",
            path = "/app/gen",
            caps = "cap_chown=p",
            platform = GO_PLATFORMS[name],
            tags = ["manual"],
        )
        _host_platform_test(
            name = "host_platform_test",
            target_under_test = ":generated_host_by_name",
            want_platform = name.replace("_", "/"),
        )
        tests.append(":host_platform_test")

    _prebuilt_toolchain_test(name = "prebuilt_toolchain_test", target_under_test = ":simple")
    tests.append(":prebuilt_toolchain_test")

    tests += failure_tests(caps_layer, _FAILURES, {
        "binary": ":testdata/server.bin",
        "path": "/app/server",
        "caps": "cap_net_bind_service=ep",
    })

    caps_layer(
        name = "tar_rewrite",
        tars = [":testdata/base.tar"],
        file_caps = {
            "/bin/ping": "cap_net_raw=p",
            "/bin/arping": "cap_net_raw,cap_net_admin=ep",
        },
        rootid = 100000,
        compression = "gzip",
        tags = ["manual"],
    )
    _tar_rewrite_test(name = "tar_rewrite_test", target_under_test = ":tar_rewrite")
    tests.append(":tar_rewrite_test")

    tests += failure_tests(caps_layer, _TAR_FAILURES, {
        "tars": [":testdata/base.tar"],
        "file_caps": {"/bin/ping": "cap_net_raw=p"},
    })

    caps_image(
        name = "copy_up_base",
        layers = [":testdata/base.tar"],
        check_entrypoint = False,
        tags = ["manual"],
    )
    caps_layer(
        name = "copy_up",
        base = ":copy_up_base",
        file_caps = {"/bin/ping": "cap_net_raw=p"},
        platform = ":arm64_linux",
        replace_caps = True,
        tags = ["manual"],
    )
    _copy_up_test(name = "copy_up_test", target_under_test = ":copy_up", base_name = "copy_up_base", platform = "linux/arm64")
    tests.append(":copy_up_test")

    tests += failure_tests(caps_layer, _COPY_UP_FAILURES, {
        "base": ":copy_up_base",
        "file_caps": {"/bin/ping": "cap_net_raw=p"},
        "replace_caps": True,
    })

    caps_labels(
        name = "copy_up_labels",
        base = ":copy_up_base",
        layers = [":copy_up"],
        platform = "@rules_go//go/toolchain:linux_amd64",
        tags = ["manual"],
    )
    _labels_test(name = "copy_up_labels_test", target_under_test = ":copy_up_labels", base_name = "copy_up_base", layer_name = "copy_up.tar")
    tests.append(":copy_up_labels_test")

    # A setuid file with capabilities: the build fails without
    # allow_unsafe_mode (the CLI refuses it), so building it checks that the
    # attribute reaches the tool.
    caps_layer(
        name = "setuid",
        binary = ":testdata/server.bin",
        path = "/app/server",
        caps = "cap_net_bind_service=ep",
        mode = "4755",
        allow_unsafe_mode = True,
        tags = ["manual"],
    )
    build_test(
        name = "setuid_build_test",
        targets = [":setuid"],
    )
    tests.append(":setuid_build_test")
    caps_layer(
        name = "tar_rewrite_unsafe",
        tars = [":testdata/base.tar"],
        file_caps = {"/bin/ping": "cap_net_raw=p"},
        allow_unsafe_mode = True,
        tags = ["manual"],
    )
    caps_layer(
        name = "copy_up_unsafe",
        base = ":copy_up_base",
        file_caps = {"/bin/ping": "cap_net_raw=p"},
        replace_caps = True,
        allow_unsafe_mode = True,
        tags = ["manual"],
    )
    for case in ["setuid", "tar_rewrite_unsafe", "copy_up_unsafe"]:
        _allow_unsafe_mode_test(name = case + "_allow_unsafe_mode_test", target_under_test = ":" + case)
        tests.append(":%s_allow_unsafe_mode_test" % case)
    for case in ["simple", "tar_rewrite", "copy_up"]:
        _no_allow_unsafe_mode_test(name = case + "_no_allow_unsafe_mode_test", target_under_test = ":" + case)
        tests.append(":%s_no_allow_unsafe_mode_test" % case)

    native.test_suite(name = name, tests = tests)
