"""Unit tests of the pure attribute checks in //rules/private:validate.bzl."""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")
load(
    "//rules/private:validate.bzl",
    "COMPRESSIONS",
    "check_caps",
    "check_files_dest",
    "check_int",
    "check_layout",
    "check_mode",
    "check_owner",
    "check_path",
)

def _check_path_test_impl(ctx):
    env = unittest.begin(ctx)
    for good in [
        "/app/server",
        "/a",
        "/usr/local/bin/x.y",
        "/opt/with space/bin",
        "/a/b:c",
        "/a/x.wh.b",  # only a name starting with .wh. is a whiteout
        "/a/.whb",
        "/" + "n" * 255,  # the longest name
        ("/" + "d" * 254) * 16 + "/" + "f" * 14,  # 4095 bytes: the longest path
        "/srv/caf\303\251",  # UTF-8 is not a control character
    ]:
        asserts.equals(env, None, check_path("path", good), "check_path(%r)" % good)
    cases = {
        "": "'path' is empty; give the absolute destination inside the image, e.g. \"/app/server\"",
        "app/server": "'path' must be absolute, got \"app/server\"; write \"/app/server\"",
        "./app": "'path' must be absolute, got \"./app\"; write \"/./app\"",
        "/": "'path' is \"/\", which is a directory; give a file path such as \"/app/server\"",
        "/app/": "'path' must name a file, got \"/app/\" with a trailing \"/\"; write \"/app\"",
        "/app//server": "'path' must be a clean path without \"//\", \".\" or \"..\" segments, got \"/app//server\"",
        "/app/../etc/shadow": "'path' must be a clean path without \"//\", \".\" or \"..\" segments, got \"/app/../etc/shadow\"",
        "/app/./server": "'path' must be a clean path without \"//\", \".\" or \"..\" segments, got \"/app/./server\"",
        "/a\nb": "'path' must be one line, got \"/a\\nb\"",
        "/a\tb": "'path' contains a control character at byte 2, got \"/a\\tb\": file names in layers must be printable; rename the file",
        "/a\033[31mb": "'path' contains a control character at byte 2, got \"/a\\x1b[31mb\": file names in layers must be printable; rename the file",
        "/a/.wh.server": "'path' has the whiteout name \".wh.server\" in \"/a/.wh.server\": in a layer a name starting with \".wh.\" deletes a file of the layers below instead of being a file, so runtimes would never create it; rename it",
        "/.wh..wh..opq/x": "'path' has the whiteout name \".wh..wh..opq\" in \"/.wh..wh..opq/x\": in a layer a name starting with \".wh.\" deletes a file of the layers below instead of being a file, so runtimes would never create it; rename it",
        "/" + "n" * 256: "'path' has a name of 256 bytes in \"/" + "n" * 63 + "...\"; Linux, GNU tar and capslayer take names of at most 255 bytes between slashes",
        ("/" + "d" * 255) * 16: "'path' is 4096 bytes long; Linux, GNU tar and capslayer take paths of at most 4095 bytes",
    }
    for bad, want in cases.items():
        asserts.equals(env, want, check_path("path", bad), "check_path(%r)" % bad)
    asserts.equals(
        env,
        "'files' must be absolute, got \"etc/x\"; write \"/etc/x\"",
        check_path("files", "etc/x"),
        "the attribute name is the one given",
    )
    return unittest.end(env)

_check_path_test = unittest.make(_check_path_test_impl)

def _check_files_dest_test_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, check_files_dest("/usr/bin/tcpdump"))
    asserts.equals(env, None, check_files_dest("/etc/a:b"))
    asserts.equals(
        env,
        "'files' destination \"/etc/a=b\" contains \"=\", which capslayer --file cannot carry; rename the file",
        check_files_dest("/etc/a=b"),
    )
    asserts.equals(env, "'files' must be absolute, got \"a=b\"; write \"/a=b\"", check_files_dest("a=b"))
    return unittest.end(env)

_check_files_dest_test = unittest.make(_check_files_dest_test_impl)

def _check_mode_test_impl(ctx):
    env = unittest.begin(ctx)
    for good in ["0755", "755", "0555", "4755", "0644", "000"]:
        asserts.equals(env, None, check_mode(good), "check_mode(%r)" % good)
    for bad in ["", "75", "0o755", "rwxr-xr-x", "07555", "0785", "-755", "0x1ed"]:
        asserts.equals(
            env,
            "'mode' must be 3 or 4 octal digits such as \"0755\", got \"%s\"" % bad,
            check_mode(bad),
            "check_mode(%r)" % bad,
        )
    return unittest.end(env)

_check_mode_test = unittest.make(_check_mode_test_impl)

def _check_owner_test_impl(ctx):
    env = unittest.begin(ctx)
    for good in ["0:0", "65532:65532", "1000:100", "4294967294:0"]:
        asserts.equals(env, None, check_owner(good), "check_owner(%r)" % good)
    for bad in ["", "0", "nonroot", "nonroot:nonroot", "1:2:3", ":0", "0:", "-1:0", "4294967295:0", "99999999999:0", " 0:0"]:
        asserts.equals(
            env,
            "'owner' must be numeric \"UID:GID\" such as \"65532:65532\", got \"%s\" (user names are not resolved: images have no host /etc/passwd)" % bad,
            check_owner(bad),
            "check_owner(%r)" % bad,
        )
    return unittest.end(env)

_check_owner_test = unittest.make(_check_owner_test_impl)

def _compressions_test_impl(ctx):
    env = unittest.begin(ctx)

    # caps_layer's `compression` takes exactly these values (attr.string(values = ...)):
    # Bazel itself rejects any other when the BUILD file is loaded.
    asserts.equals(env, ["gzip", "none", "zstd"], sorted(COMPRESSIONS.keys()))

    # The extensions are the ones rules_oci's oci_image(tars) accepts.
    asserts.equals(env, ".tar", COMPRESSIONS["none"].extension)
    asserts.equals(env, ".tar.gz", COMPRESSIONS["gzip"].extension)
    asserts.equals(env, ".tar.zst", COMPRESSIONS["zstd"].extension)
    asserts.equals(env, "application/vnd.oci.image.layer.v1.tar+zstd", COMPRESSIONS["zstd"].media_type)
    return unittest.end(env)

_compressions_test = unittest.make(_compressions_test_impl)

def _check_int_and_caps_test_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, check_int("mtime", 0, 10))
    asserts.equals(env, None, check_int("mtime", 10, 10))
    asserts.equals(env, "'mtime' must be between 0 and 10, got -1", check_int("mtime", -1, 10))
    asserts.equals(env, "'rootid' must be between 0 and 10, got 11", check_int("rootid", 11, 10))
    asserts.equals(env, None, check_caps("caps", "cap_net_bind_service=ep"))
    asserts.equals(env, None, check_caps("caps", "NET_BIND_SERVICE"))
    asserts.equals(
        env,
        "'caps' is empty; give capabilities as setcap does, e.g. \"cap_net_bind_service=ep\"",
        check_caps("caps", "  "),
    )
    asserts.equals(env, "'caps' must be one line, got \"a=p\\nb=p\"", check_caps("caps", "a=p\nb=p"))
    return unittest.end(env)

_check_int_and_caps_test = unittest.make(_check_int_and_caps_test_impl)

def _check_layout_test_impl(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, None, check_layout("/app/server", [], {}))
    asserts.equals(env, None, check_layout("/app/server", ["/usr/bin/tcpdump", "/etc/c"], {"/usr/bin/tcpdump": "cap_net_raw=p"}))
    asserts.equals(env, None, check_layout("", ["/usr/bin/tcpdump"], {"/usr/bin/tcpdump": "cap_net_raw=p"}))
    asserts.equals(
        env,
        "destination \"/app/server\" is given twice (in 'path' and in 'files'); each path in the layer holds one file",
        check_layout("/app/server", ["/app/server"], {}),
    )
    asserts.equals(
        env,
        "destination \"/a\" is given to two targets in 'files'; each path in the layer holds one file",
        check_layout("", ["/a", "/a"], {}),
    )
    asserts.equals(
        env,
        "'file_caps' has \"/app/server\", the destination of 'binary'; give its capabilities in 'caps' instead",
        check_layout("/app/server", [], {"/app/server": "cap_chown=p"}),
    )
    asserts.equals(
        env,
        "'file_caps' has \"/usr/bin/tcpdmp\", which is not a destination in 'files' (\"/etc/c\", \"/usr/bin/tcpdump\"); add the file to 'files' or fix the path",
        check_layout("/app/server", ["/usr/bin/tcpdump", "/etc/c"], {"/usr/bin/tcpdmp": "cap_net_raw=p"}),
    )
    asserts.equals(
        env,
        "'file_caps' has \"/x\", which is not a destination in 'files' (none given); add the file to 'files' or fix the path",
        check_layout("/app/server", [], {"/x": "cap_net_raw=p"}),
    )
    return unittest.end(env)

_check_layout_test = unittest.make(_check_layout_test_impl)

def validate_test_suite(name):
    """Declares the unit tests of validate.bzl.

    Args:
      name: name of the test_suite.
    """
    unittest.suite(
        name,
        _check_path_test,
        _check_files_dest_test,
        _check_mode_test,
        _check_owner_test,
        _compressions_test,
        _check_int_and_caps_test,
        _check_layout_test,
    )
