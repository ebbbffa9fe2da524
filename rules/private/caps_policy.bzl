"""Implementation of caps_policy_test. Private: load it from //rules:defs.bzl."""

load(":toolchain.bzl", "TOOLCHAIN_TYPE")
load(":util.bzl", "check", "label_text", "rlocation", "shell_quote")

# capslayer audit --profile values (capslayer/policy); "none" allows nothing
# but what `allow` lists.
PROFILES = ["pss-restricted", "pss-baseline", "docker-default", "none"]

_DOC = """Checks every file capability of an image or layer against a policy.

The test runs `capslayer audit` on `image` and passes when it exits 0: every
capability is allowed by `profile` or `allow`, every dangerous capability
(`SYS_ADMIN`, `NET_ADMIN`, `NET_RAW`, `BPF`...) has a written justification, and
no file has more than `max_caps` capabilities without one for each. The test
log shows the audit table; a violation names the file, the capability, the
rule and the fix:

```
ERROR [dangerous-capability] /usr/bin/tcpdump (layer 0) has CAP_NET_RAW, a dangerous capability (...), without a written justification
    fix: drop NET_RAW from /usr/bin/tcpdump, or justify it: justifications = {"/usr/bin/tcpdump:NET_RAW": "why the program needs it"}
```

Justifications are attributes, so adding a capability to an image goes through
code review like any other change of the BUILD file:

```starlark
load("@rules_capslayer//rules:defs.bzl", "caps_policy_test")

caps_policy_test(
    name = "server_policy_test",
    image = ":server_image",          # or a caps_layer, or any layer tar
    profile = "pss-restricted",       # allows NET_BIND_SERVICE only
)

caps_policy_test(
    name = "tools_policy_test",
    image = ":tools_layer",
    profile = "docker-default",
    allow = ["NET_ADMIN"],
    justifications = {
        "/usr/bin/tcpdump:NET_RAW": "captures packets on the pod interface",
        "/usr/bin/tcpdump:NET_ADMIN": "puts the interface in promiscuous mode",
    },
)
```

The policy is written to `<name>.policy.json` (the `capslayer audit --policy`
format, see docs/policy.md), so the same check runs by hand with
`capslayer audit --policy bazel-bin/.../<name>.policy.json IMAGE`. When the test
runs under `bazel test`, the result is also written as a SARIF 2.1.0 log,
`audit.sarif`, to the test's undeclared outputs
(`bazel-testlogs/.../<name>/test.outputs/`), for code-scanning UIs.

Shadowed files (replaced or deleted by a later layer) are reported but not
checked: they never reach the container's filesystem.
"""

def check_profile(profile):
    """Checks a profile name.

    Args:
      profile: e.g. "pss-restricted".

    Returns:
      None, or the problem and its fix.
    """
    if profile not in PROFILES:
        return "'profile' must be one of %s, got \"%s\"" % (", ".join(["\"%s\"" % p for p in PROFILES]), profile)
    return None

def parse_justification(key, reason):
    """Turns a `justifications` entry into a policy file justification.

    Args:
      key: "CAP" for every file or "/path:CAP" for one path (a path.Match
        pattern is fine).
      reason: the written reason.

    Returns:
      (dict, None) with the policy file's `path`, `capability`, `reason`, or
      (None, problem).
    """
    where = "'justifications' key \"%s\"" % key
    if not reason.strip():
        return None, "%s has an empty reason; write why the program needs the capability" % where
    path, capability = "", key
    if ":" in key:
        path, _, capability = key.rpartition(":")
        if not path.startswith("/"):
            return None, "%s: the path must be absolute, e.g. \"/usr/bin/tcpdump:NET_RAW\"; write \"CAP\" alone for every file" % where
    elif key.startswith("/"):
        return None, "%s names a path but no capability; write \"%s:NET_RAW\" (path, then the capability)" % (where, key)
    if not capability.strip() or " " in capability.strip() or "=" in capability:
        return None, "%s: want \"CAP\" or \"/path:CAP\" with one capability name such as NET_RAW, got capability \"%s\"" % (where, capability)
    justification = {"capability": capability.strip(), "reason": reason}
    if path:
        justification = {"path": path, "capability": capability.strip(), "reason": reason}
    return justification, None

def policy_json(label, profile, allow, max_caps, justifications):
    """The `capslayer audit --policy` file for the attributes of a caps_policy_test.

    Args:
      label: the test's label, named in the description.
      profile: the profile name.
      allow: the list of allowed capabilities.
      max_caps: the count rule's limit (-1: off).
      justifications: the `justifications` dict.

    Returns:
      (JSON text, None), or (None, problem).
    """
    problem = check_profile(profile)
    if problem:
        return None, problem
    if max_caps < -1:
        return None, "'max_caps' must be -1 (no limit) or more, got %d" % max_caps
    for cap in allow:
        if not cap.strip():
            return None, "'allow' has an empty entry; give capability names such as \"NET_RAW\""
    entries = []
    for key in sorted(justifications.keys()):
        justification, problem = parse_justification(key, justifications[key])
        if problem:
            return None, problem
        entries.append(justification)
    policy = {
        "description": "caps_policy_test %s" % label,
        "profile": profile,
        "allow": allow,
        "max_caps": max_caps,
        "justifications": entries,
    }
    return json.encode_indent(policy, indent = "  ") + "\n", None

def _caps_policy_test_impl(ctx):
    text, problem = policy_json(
        label_text(ctx.label),
        ctx.attr.profile,
        ctx.attr.allow,
        ctx.attr.max_caps,
        ctx.attr.justifications,
    )
    check(ctx, problem)
    policy = ctx.actions.declare_file(ctx.label.name + ".policy.json")
    ctx.actions.write(policy, text)

    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    capslayer = toolchain.capslayer_info.binary
    image = ctx.file.image
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = launcher,
        substitutions = {
            "%{capslayer}": shell_quote(rlocation(ctx, capslayer)),
            "%{policy}": shell_quote(rlocation(ctx, policy)),
            "%{image}": shell_quote(rlocation(ctx, image)),
        },
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = [capslayer, policy, image])
    runfiles = runfiles.merge(toolchain.default.default_runfiles)
    return [
        DefaultInfo(executable = launcher, runfiles = runfiles),
        OutputGroupInfo(policy = depset([policy])),
    ]

caps_policy_test = rule(
    implementation = _caps_policy_test_impl,
    doc = _DOC,
    attrs = {
        "image": attr.label(
            doc = "What to audit: a `caps_image` (its OCI layout), a `caps_layer`, or any target giving " +
                  "one layer tar (plain, gzip or zstd), OCI image layout directory or `docker save` tarball. " +
                  "Every layer of an image is checked, the base's included.",
            mandatory = True,
            allow_single_file = True,
        ),
        "profile": attr.string(
            doc = "The allowlist: `pss-restricted` (Kubernetes Pod Security Standards restricted: " +
                  "NET_BIND_SERVICE only), `pss-baseline` (PSS baseline: Docker's defaults minus NET_RAW), " +
                  "`docker-default` (Docker's 14 default capabilities), or `none` (nothing but `allow`).",
            default = "pss-restricted",
            values = PROFILES,
        ),
        "allow": attr.string_list(
            doc = "Capabilities allowed besides the profile's, Docker names (`NET_RAW`) or `cap_` names. " +
                  "Dangerous ones still need a justification.",
        ),
        "max_caps": attr.int(
            doc = "A file with more than this many capabilities needs a justification for each of " +
                  "them; -1 turns the rule off.",
            default = 3,
        ),
        "justifications": attr.string_dict(
            doc = "Written reasons: `{\"/usr/bin/tcpdump:NET_RAW\": \"captures packets\"}` for one file " +
                  "(the path may be a `path.Match` pattern such as `/usr/lib/tools/*`), or " +
                  "`{\"NET_RAW\": \"...\"}` for every file. A justification covers the dangerous-capability " +
                  "and too-many-capabilities rules; it does not allow a capability the profile refuses " +
                  "(use `allow`). Unused justifications are reported, without failing.",
        ),
        "_template": attr.label(
            default = Label(":policy_test.sh.tpl"),
            allow_single_file = True,
        ),
    },
    test = True,
    toolchains = [TOOLCHAIN_TYPE],
)
