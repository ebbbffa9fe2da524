"""Tests of caps_image: pure checks, outputs, provider, actions, load target, fail() texts."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts", "unittest")
load("//rules:defs.bzl", "CapsImageInfo", "caps_image", "caps_layer")
load(
    "//rules/private:validate.bzl",
    "check_key_values",
    "check_platform",
    "check_port",
    "check_tag",
    "default_tag",
)
load(":failure.bzl", "failure_test", "failure_tests")

_PKG = "rules/tests/"

def _basenames(files):
    return [f.basename for f in files]

# ---------------------------------------------------------------------------
# Pure checks.

def _check_tag_test_impl(ctx):
    env = unittest.begin(ctx)
    for good in ["capslayer/server:latest", "example.com/app:v1", "localhost:5000/a/b:1.0_rc-2", "a:b", "bazel/rules/tests:img"]:
        asserts.equals(env, None, check_tag(good), "check_tag(%r)" % good)
    cases = {
        "app": "'tag' must be NAME:TAG such as \"example.com/app:v1\", got \"app\" (no \":TAG\" after the last \"/\")",
        "localhost:5000/app": "'tag' must be NAME:TAG such as \"example.com/app:v1\", got \"localhost:5000/app\" (no \":TAG\" after the last \"/\")",
        "app@sha256:0123": "'tag' must be NAME:TAG, not a digest reference, got \"app@sha256:0123\"",
        "App:v1": "'tag' NAME \"App\" must be lower case letters, digits and . _ - / (and :PORT after a registry host), got \"App:v1\"",
        ":v1": "'tag' NAME \"\" must be lower case letters, digits and . _ - / (and :PORT after a registry host), got \":v1\"",
        "app:": "'tag' TAG \"\" must be 1 to 128 letters, digits, _ . - not starting with . or -, got \"app:\"",
        "app:-v1": "'tag' TAG \"-v1\" must be 1 to 128 letters, digits, _ . - not starting with . or -, got \"app:-v1\"",
        "app:v+1": "'tag' TAG \"v+1\" must be 1 to 128 letters, digits, _ . - not starting with . or -, got \"app:v+1\"",
        "app:" + "x" * 129: "'tag' TAG \"%s\" must be 1 to 128 letters, digits, _ . - not starting with . or -, got \"app:%s\"" % ("x" * 129, "x" * 129),
    }
    for bad, want in cases.items():
        asserts.equals(env, want, check_tag(bad), "check_tag(%r)" % bad)
    asserts.equals(env, "bazel/rules/tests:img", default_tag(Label("//rules/tests:img")))
    asserts.equals(env, "bazel/a/b:server_image", default_tag(Label("//A/b:Server_Image")), "lower-cased")
    asserts.equals(env, "bazel/root:img", default_tag(Label("//:img")), "root package")
    return unittest.end(env)

_check_tag_test = unittest.make(_check_tag_test_impl)

def _check_port_test_impl(ctx):
    env = unittest.begin(ctx)
    for good in ["80", "80/tcp", "53/udp", "9/sctp", "1", "65535/tcp"]:
        asserts.equals(env, None, check_port(good), "check_port(%r)" % good)
    for bad in ["", "0", "65536", "http", "80/icmp", "80/", "/tcp", "-1", "123456"]:
        asserts.equals(
            env,
            "'exposed_ports' entry \"%s\" must be PORT or PORT/PROTO with PORT 1-65535 and PROTO tcp, udp or sctp, e.g. \"80/tcp\"" % bad,
            check_port(bad),
            "check_port(%r)" % bad,
        )
    return unittest.end(env)

_check_port_test = unittest.make(_check_port_test_impl)

def _check_key_values_test_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, check_key_values("env", {"PATH": "/bin", "A_B": "x=y"}))
    asserts.equals(env, "'env' key \"A=B\" must be non-empty and contain neither \"=\" nor a newline", check_key_values("env", {"A=B": "c"}))
    asserts.equals(env, "'labels' key \"\" must be non-empty and contain neither \"=\" nor a newline", check_key_values("labels", {"": "c"}))
    return unittest.end(env)

_check_key_values_test = unittest.make(_check_key_values_test_impl)

def _check_platform_test_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, check_platform("linux", "", ""), "the base's platform")
    asserts.equals(env, None, check_platform("linux", "arm64", ""))
    asserts.equals(env, None, check_platform("linux", "arm", "v7"))
    asserts.equals(env, "'variant' needs 'architecture': set both, e.g. architecture = \"arm\", variant = \"v7\"", check_platform("linux", "", "v7"))
    asserts.equals(env, "'architecture' needs 'os', e.g. os = \"linux\"", check_platform("", "arm64", ""))
    asserts.equals(env, "'architecture' must be one word such as \"linux\", \"arm64\" or \"v7\", got \"linux/arm64\"", check_platform("linux", "linux/arm64", ""))
    return unittest.end(env)

_check_platform_test = unittest.make(_check_platform_test_impl)

# ---------------------------------------------------------------------------
# Outputs, provider and actions.

def _image_action(env):
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "CapsImage"]
    asserts.equals(env, 1, len(actions), "one CapsImage action")
    return actions[0]

def _capslayer_argv(action):
    """The argv of capslayer in an action, and the file its stdout goes to.

    A run action runs `CAPSLAYER ARGS...` (stdout: None); a run_shell action
    runs `sh -c 'out="$1"; shift; "$@" >"$out"' '' OUT CAPSLAYER ARGS...`.
    """
    argv = action.argv
    for i, arg in enumerate(argv):
        if arg.endswith("/capslayer"):
            return (argv[i - 1] if i > 0 else None), argv[i + 1:]
    return None, argv

def _simple_image_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    name = target.label.name

    # The default output is the OCI layout directory alone, as rules_oci's
    # oci_image(base = ...) wants it.
    default = target[DefaultInfo].files.to_list()
    asserts.equals(env, [name], _basenames(default), "default outputs")
    asserts.true(env, default[0].is_directory, "the layout is a directory")
    groups = target[OutputGroupInfo]
    asserts.equals(env, [name + ".tar"], _basenames(groups.tarball.to_list()))
    asserts.equals(env, [name + ".digest"], _basenames(groups.digest.to_list()))
    asserts.equals(env, [name + ".requirements.txt"], _basenames(groups.requirements.to_list()))
    asserts.equals(env, [name + ".run_flags.txt"], _basenames(groups.run_flags.to_list()))
    asserts.equals(env, [name + ".admission.yaml"], _basenames(groups.admission.to_list()))

    info = target[CapsImageInfo]
    asserts.equals(env, default[0], info.layout)
    asserts.equals(env, groups.tarball.to_list()[0], info.tarball)
    asserts.equals(env, groups.digest.to_list()[0], info.digest)
    asserts.equals(env, "capslayer/server:latest", info.tag)
    asserts.equals(env, "", info.platform)
    asserts.equals(env, ["image_layer.tar"], _basenames(info.layers))

    action = _image_action(env)
    stdout, argv = _capslayer_argv(action)
    asserts.equals(env, None, stdout, "no shell: capslayer writes the digest file")
    asserts.true(env, action.argv[0].endswith("/capslayer"), "the action runs capslayer itself")
    asserts.equals(env, [
        "image",
        "--layer",
        info.layers[0].path,
        "--entrypoint",
        "[\"/app/server\"]",
        "--user",
        "1000",
        "--expose",
        "80/tcp",
        "--output",
        info.layout.path,
        "--tag",
        "capslayer/server:latest",
        "--digest-file",
        info.digest.path,
        "--hint-style",
        "bazel",
    ], argv)
    asserts.equals(
        env,
        sorted([info.layout.path, info.digest.path]),
        sorted([f.path for f in action.outputs.to_list()]),
    )

    # The tarball comes from the layout, in an action of its own.
    tarballs = [a for a in analysistest.target_actions(env) if a.mnemonic == "CapsImageTarball"]
    asserts.equals(env, 1, len(tarballs), "one CapsImageTarball action")
    stdout, argv = _capslayer_argv(tarballs[0])
    asserts.equals(env, None, stdout)
    asserts.equals(env, ["image", "tarball", "--tag", "capslayer/server:latest", "--output", info.tarball.path, info.layout.path], argv)
    asserts.equals(env, [info.tarball], tarballs[0].outputs.to_list())
    asserts.true(env, info.layout in tarballs[0].inputs.to_list(), "the layout is an input")
    asserts.true(env, info.layers[0] not in tarballs[0].inputs.to_list(), "the layers are not")
    asserts.equals(env, {}, tarballs[0].env)
    asserts.true(env, info.layers[0] in action.inputs.to_list(), "the layer is an input")
    asserts.equals(env, {}, action.env, "no SOURCE_DATE_EPOCH, TZ, LANG, PATH from the host")

    # Both requirements actions read the layout and name the image by its tag.
    reqs = [a for a in analysistest.target_actions(env) if a.mnemonic == "CapsRequirements"]
    asserts.equals(env, 2, len(reqs), "requirements and run flags")
    for a in reqs:
        stdout, argv = _capslayer_argv(a)
        asserts.equals(env, None, stdout, "no shell: capslayer writes --output")
        out = argv[2]
        if out == groups.requirements.to_list()[0].path:
            asserts.equals(env, ["requirements", "--output", out, "--image", "capslayer/server:latest", info.layout.path], argv)
        else:
            asserts.equals(env, groups.run_flags.to_list()[0].path, out)
            asserts.equals(env, ["requirements", "--output", out, "--only", "flags", "--image", "capslayer/server:latest", info.layout.path], argv)
        asserts.true(env, info.layout in a.inputs.to_list())
        asserts.equals(env, {}, a.env)
    return analysistest.end(env)

_simple_image_test = analysistest.make(_simple_image_test_impl)

def _full_image_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[CapsImageInfo]
    asserts.equals(env, "linux/arm/v7", info.platform)

    # A caps_layer gives its layer, a plain target all its files, in order.
    asserts.equals(env, ["image_layer.tar", "extra.tar", "more.tar.gz"], _basenames(info.layers))
    action = _image_action(env)
    _, argv = _capslayer_argv(action)
    base = [f for f in action.inputs.to_list() if f.basename == "base.tar"]
    asserts.equals(env, 1, len(base), "the base is an input")
    asserts.equals(env, [
        "image",
        "--base",
        base[0].path,
        "--base-ref",
        "example.com/base:1",
        "--platform",
        "linux/arm/v7",
        "--layer",
        info.layers[0].path,
        "--layer",
        info.layers[1].path,
        "--layer",
        info.layers[2].path,
        "--entrypoint",
        "[\"/app/server\",\"-raise\"]",
        "--cmd",
        "[\"[not json\",\"--port=80\"]",
        "--user",
        "65532:65532",
        "--workdir",
        "/srv",
        "--env",
        "Z_FIRST=1",
        "--env",
        "A_SECOND=x=y",
        "--label",
        "org.opencontainers.image.source=https://example.com/src",
        "--expose",
        "80/tcp",
        "--expose",
        "53/udp",
        "--created",
        "2024-01-01T00:00:00Z",
        "--no-entrypoint-check",
        "--output",
        info.layout.path,
        "--tag",
        "bazel/rules/tests:full_image",
        "--digest-file",
        info.layout.path[:-len("full_image")] + "full_image.digest",
        "--hint-style",
        "bazel",
    ], argv)
    return analysistest.end(env)

_full_image_test = analysistest.make(_full_image_test_impl)

def _image_on_image_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    base = ctx.attr.base_image[CapsImageInfo]
    _, argv = _capslayer_argv(_image_action(env))
    asserts.equals(env, ["image", "--base", base.layout.path], argv[:3], "a caps_image base is its layout")
    asserts.true(env, base.layout in _image_action(env).inputs.to_list())
    asserts.equals(env, [], target[CapsImageInfo].layers, "no layers of its own")
    return analysistest.end(env)

_image_on_image_test = analysistest.make(
    _image_on_image_test_impl,
    attrs = {"base_image": attr.label(providers = [CapsImageInfo])},
)

def _load_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    image = ctx.attr.image[CapsImageInfo]
    executable = target[DefaultInfo].files_to_run.executable
    asserts.equals(env, "simple_image_load", executable.basename)
    runfiles = target[DefaultInfo].default_runfiles.files.to_list()
    asserts.true(env, image.tarball in runfiles, "the tarball is in the runfiles")
    asserts.true(
        env,
        "simple_image.run_flags.txt" in _basenames(runfiles),
        "the run flags are in the runfiles",
    )
    expand = [a for a in analysistest.target_actions(env) if a.mnemonic == "TemplateExpand"]
    asserts.equals(env, 1, len(expand))
    asserts.equals(env, {
        "%{tarball}": "'_main/" + _PKG + "simple_image.tar'",
        "%{run_flags}": "'_main/" + _PKG + "simple_image.run_flags.txt'",
        "%{tag}": "'capslayer/server:latest'",
        "%{label}": "'//rules/tests:simple_image'",
    }, expand[0].substitutions)
    return analysistest.end(env)

_load_test = analysistest.make(
    _load_test_impl,
    attrs = {"image": attr.label(providers = [CapsImageInfo])},
)

# ---------------------------------------------------------------------------
# fail() texts. Each target is tagged manual so //... does not build it.

# name -> (caps_image kwargs, expected message after "<package>:<name>: ").
_FAILURES = {
    "image_bad_tag": (
        {"tag": "Example.com/App"},
        "'tag' must be NAME:TAG such as \"example.com/app:v1\", got \"Example.com/App\" (no \":TAG\" after the last \"/\")",
    ),
    "image_bad_default_tag+1": (
        {"tag": None},
        "the default tag \"bazel/rules/tests:image_bad_default_tag+1\" (from the label) is not a valid image name: set 'tag', e.g. tag = \"example.com/image_bad_default_tag+1:latest\"",
    ),
    "image_bad_port": (
        {"exposed_ports": ["80/tcp", "http"]},
        "'exposed_ports' entry \"http\" must be PORT or PORT/PROTO with PORT 1-65535 and PROTO tcp, udp or sctp, e.g. \"80/tcp\"",
    ),
    "image_bad_env": (
        {"env": {"A=B": "c"}},
        "'env' key \"A=B\" must be non-empty and contain neither \"=\" nor a newline",
    ),
    "image_bad_label": (
        {"labels": {"": "c"}},
        "'labels' key \"\" must be non-empty and contain neither \"=\" nor a newline",
    ),
    "image_variant_alone": (
        {"variant": "v7"},
        "'variant' needs 'architecture': set both, e.g. architecture = \"arm\", variant = \"v7\"",
    ),
    "image_relative_workdir": (
        {"workdir": "srv"},
        "'workdir' must be absolute, got \"srv\"; write \"/srv\"",
    ),
    "image_empty": (
        {"layers": []},
        "the image would be empty; give 'layers' (e.g. a caps_layer) and/or a 'base'",
    ),
}

def caps_image_test_suite(name):
    """Declares the tests of caps_image and the targets they check.

    Args:
      name: name of the test_suite.
    """
    tests = []
    for test, impl in [
        ("check_tag_test", _check_tag_test),
        ("check_port_test", _check_port_test),
        ("check_key_values_test", _check_key_values_test),
        ("check_platform_test", _check_platform_test),
    ]:
        impl(name = test)
        tests.append(":" + test)

    caps_layer(
        name = "image_layer",
        binary = ":testdata/server.bin",
        path = "/app/server",
        caps = "cap_net_bind_service=ep",
        tags = ["manual"],
    )
    for out in ["extra.tar", "more.tar.gz", "base.tar", "notes.json"]:
        native.genrule(
            name = "gen_" + out.replace(".", "_"),
            outs = [out],
            cmd = "touch $@",
            tags = ["manual"],
        )
    native.filegroup(
        name = "two_tars",
        srcs = [":extra.tar", ":more.tar.gz"],
        tags = ["manual"],
    )

    caps_image(
        name = "simple_image",
        layers = [":image_layer"],
        entrypoint = ["/app/server"],
        user = "1000",
        exposed_ports = ["80/tcp"],
        tag = "capslayer/server:latest",
        tags = ["manual"],
    )
    _simple_image_test(name = "simple_image_test", target_under_test = ":simple_image")
    tests.append(":simple_image_test")
    _load_test(name = "image_load_target_test", target_under_test = ":simple_image_load", image = ":simple_image")
    tests.append(":image_load_target_test")

    caps_image(
        name = "full_image",
        base = ":base.tar",
        base_ref = "example.com/base:1",
        layers = [":image_layer", ":two_tars"],
        entrypoint = ["/app/server", "-raise"],
        # A word starting with "[" stays one word: capslayer gets JSON arrays.
        cmd = ["[not json", "--port=80"],
        user = "65532:65532",
        workdir = "/srv",
        env = {"Z_FIRST": "1", "A_SECOND": "x=y"},
        labels = {"org.opencontainers.image.source": "https://example.com/src"},
        exposed_ports = ["80/tcp", "53/udp"],
        architecture = "arm",
        variant = "v7",
        created = "2024-01-01T00:00:00Z",
        check_entrypoint = False,
        tags = ["manual"],
    )
    _full_image_test(name = "full_image_test", target_under_test = ":full_image")
    tests.append(":full_image_test")

    caps_image(
        name = "image_on_image",
        base = ":simple_image",
        tags = ["manual"],
    )
    _image_on_image_test(name = "image_on_image_test", target_under_test = ":image_on_image", base_image = ":simple_image")
    tests.append(":image_on_image_test")

    tests += failure_tests(caps_image, _FAILURES, {"layers": [":image_layer"], "tag": "a/b:c"})

    # A layer of another type fails in Bazel itself, naming the extensions.
    caps_image(
        name = "image_json_layer",
        layers = [":notes.json"],
        tags = ["manual"],
    )
    failure_test(
        name = "image_json_layer_test",
        target_under_test = ":image_json_layer",
        want = "expected .tar, .tar.gz, .tgz, .tar.zst or .tzst",
    )
    tests.append(":image_json_layer_test")

    native.test_suite(name = name, tests = tests)
