"""Tests of caps_policy_test: the policy file, the launcher, and fail() texts."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts", "unittest")
load("//rules:defs.bzl", "caps_layer", "caps_policy_test")
load("//rules/private:caps_policy.bzl", "check_profile", "parse_justification", "policy_json")
load(":failure.bzl", "failure_tests")

_PKG = "rules/tests/"

# ---------------------------------------------------------------------------
# Pure functions.

def _parse_justification_test_impl(ctx):
    env = unittest.begin(ctx)
    goods = {
        "NET_RAW": {"capability": "NET_RAW", "reason": "ping"},
        "cap_net_raw": {"capability": "cap_net_raw", "reason": "ping"},
        "/usr/bin/ping:NET_RAW": {"path": "/usr/bin/ping", "capability": "NET_RAW", "reason": "ping"},
        "/usr/lib/tools/*:NET_ADMIN": {"path": "/usr/lib/tools/*", "capability": "NET_ADMIN", "reason": "ping"},
        # The path ends at the last ":", as capslayer --justify splits it.
        "/opt/a:b/tool:BPF": {"path": "/opt/a:b/tool", "capability": "BPF", "reason": "ping"},
    }
    for key, want in goods.items():
        asserts.equals(env, (want, None), parse_justification(key, "ping"), "parse_justification(%r)" % key)
    bads = {
        ("NET_RAW", " "): "'justifications' key \"NET_RAW\" has an empty reason; write why the program needs the capability",
        ("usr/bin/ping:NET_RAW", "x"): "'justifications' key \"usr/bin/ping:NET_RAW\": the path must be absolute, e.g. \"/usr/bin/tcpdump:NET_RAW\"; write \"CAP\" alone for every file",
        ("/usr/bin/ping", "x"): "'justifications' key \"/usr/bin/ping\" names a path but no capability; write \"/usr/bin/ping:NET_RAW\" (path, then the capability)",
        ("/usr/bin/ping:", "x"): "'justifications' key \"/usr/bin/ping:\": want \"CAP\" or \"/path:CAP\" with one capability name such as NET_RAW, got capability \"\"",
        ("NET_RAW NET_ADMIN", "x"): "'justifications' key \"NET_RAW NET_ADMIN\": want \"CAP\" or \"/path:CAP\" with one capability name such as NET_RAW, got capability \"NET_RAW NET_ADMIN\"",
        ("NET_RAW=why", "x"): "'justifications' key \"NET_RAW=why\": want \"CAP\" or \"/path:CAP\" with one capability name such as NET_RAW, got capability \"NET_RAW=why\"",
    }
    for (key, reason), want in bads.items():
        asserts.equals(env, (None, want), parse_justification(key, reason), "parse_justification(%r, %r)" % (key, reason))
    return unittest.end(env)

_parse_justification_test = unittest.make(_parse_justification_test_impl)

def _policy_json_test_impl(ctx):
    env = unittest.begin(ctx)
    for profile in ["pss-restricted", "pss-baseline", "docker-default", "none"]:
        asserts.equals(env, None, check_profile(profile))
    asserts.equals(
        env,
        "'profile' must be one of \"pss-restricted\", \"pss-baseline\", \"docker-default\", \"none\", got \"restricted\"",
        check_profile("restricted"),
    )

    # Justifications are sorted by key, so the file does not depend on the
    # order of the dict in BUILD.
    text, problem = policy_json(
        "//p:t",
        "docker-default",
        ["NET_ADMIN"],
        -1,
        {"NET_RAW": "b", "/usr/sbin/tcpdump:NET_ADMIN": "a \"quoted\" reason"},
    )
    asserts.equals(env, None, problem)
    asserts.equals(env, """{
  "allow": [
    "NET_ADMIN"
  ],
  "description": "caps_policy_test //p:t",
  "justifications": [
    {
      "capability": "NET_ADMIN",
      "path": "/usr/sbin/tcpdump",
      "reason": "a \\"quoted\\" reason"
    },
    {
      "capability": "NET_RAW",
      "reason": "b"
    }
  ],
  "max_caps": -1,
  "profile": "docker-default"
}
""", text)
    asserts.equals(env, (None, "'max_caps' must be -1 (no limit) or more, got -2"), policy_json("//p:t", "none", [], -2, {}))
    asserts.equals(env, (None, "'allow' has an empty entry; give capability names such as \"NET_RAW\""), policy_json("//p:t", "none", [""], 3, {}))
    return unittest.end(env)

_policy_json_test = unittest.make(_policy_json_test_impl)

# ---------------------------------------------------------------------------
# The test target: policy file, launcher, runfiles.

def _policy_target_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    name = target.label.name
    policy = target[OutputGroupInfo].policy.to_list()
    asserts.equals(env, [name + ".policy.json"], [f.basename for f in policy])

    actions = analysistest.target_actions(env)
    writes = [a for a in actions if a.mnemonic == "FileWrite"]
    asserts.equals(env, 1, len(writes), "one policy file")
    asserts.equals(env, """{
  "allow": [
    "NET_ADMIN"
  ],
  "description": "caps_policy_test //rules/tests:policy_on_layer",
  "justifications": [
    {
      "capability": "NET_ADMIN",
      "path": "/usr/bin/tcpdump",
      "reason": "promiscuous mode"
    },
    {
      "capability": "NET_RAW",
      "reason": "packet capture"
    }
  ],
  "max_caps": 2,
  "profile": "pss-baseline"
}
""", writes[0].content)

    expand = [a for a in actions if a.mnemonic == "TemplateExpand"]
    asserts.equals(env, 1, len(expand), "one launcher")
    subs = expand[0].substitutions
    asserts.equals(env, "'_main/" + _PKG + "policy_layer.tar'", subs["%{image}"])
    asserts.equals(env, "'_main/" + _PKG + name + ".policy.json'", subs["%{policy}"])
    asserts.true(env, subs["%{capslayer}"].endswith("/capslayer'"), "the toolchain's capslayer: %s" % subs["%{capslayer}"])

    executable = target[DefaultInfo].files_to_run.executable
    asserts.equals(env, name + ".sh", executable.basename)
    runfiles = [f.basename for f in target[DefaultInfo].default_runfiles.files.to_list()]
    for want in ["capslayer", name + ".policy.json", "policy_layer.tar"]:
        asserts.true(env, want in runfiles, "%s in the runfiles: %s" % (want, runfiles))
    return analysistest.end(env)

_policy_target_test = analysistest.make(_policy_target_test_impl)

# ---------------------------------------------------------------------------
# fail() texts.

_FAILURES = {
    "policy_bad_max_caps": (
        {"max_caps": -5},
        "'max_caps' must be -1 (no limit) or more, got -5",
    ),
    "policy_empty_reason": (
        {"justifications": {"/usr/bin/tcpdump:NET_RAW": ""}},
        "'justifications' key \"/usr/bin/tcpdump:NET_RAW\" has an empty reason; write why the program needs the capability",
    ),
    "policy_relative_path": (
        {"justifications": {"usr/bin/tcpdump:NET_RAW": "x"}},
        "'justifications' key \"usr/bin/tcpdump:NET_RAW\": the path must be absolute, e.g. \"/usr/bin/tcpdump:NET_RAW\"; write \"CAP\" alone for every file",
    ),
}

def caps_policy_test_suite(name):
    """Declares the tests of caps_policy_test and the targets they check.

    Args:
      name: name of the test_suite.
    """
    tests = []
    for test, impl in [
        ("parse_justification_test", _parse_justification_test),
        ("policy_json_test", _policy_json_test),
    ]:
        impl(name = test)
        tests.append(":" + test)

    caps_layer(
        name = "policy_layer",
        binary = ":testdata/tcpdump.bin",
        path = "/usr/bin/tcpdump",
        caps = "cap_net_raw,cap_net_admin=ep",
        tags = ["manual"],
    )
    caps_policy_test(
        name = "policy_on_layer",
        image = ":policy_layer",
        profile = "pss-baseline",
        allow = ["NET_ADMIN"],
        max_caps = 2,
        justifications = {
            "NET_RAW": "packet capture",
            "/usr/bin/tcpdump:NET_ADMIN": "promiscuous mode",
        },
        tags = ["manual"],
    )
    _policy_target_test(name = "policy_target_test", target_under_test = ":policy_on_layer")
    tests.append(":policy_target_test")

    tests += failure_tests(caps_policy_test, _FAILURES, {"image": ":policy_layer"})

    native.test_suite(name = name, tests = tests)
