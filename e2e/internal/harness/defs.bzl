"""e2e_test: the go_test of an end-to-end test of e2e/. Private to e2e/."""

load("@rules_go//go:def.bzl", "go_test")

def e2e_test(name, bins = {}, local = True, tags = [], data = [], env_inherit = [], **kwargs):
    """Declares the go_test of an end-to-end test.

    Each binary the test runs is in its data and named by an environment
    variable (what harness reads); CI and CAPSLAYER_E2E_STRICT are passed
    through, so that a missing tool or root fails the test in CI instead of
    skipping it (see e2e/README.md); the test is tagged "e2e".

    Args:
      name: the test's name.
      bins: environment variable to the label of a binary the test runs,
        e.g. `{"CAPSLAYER_BIN": "//capslayer"}`.
      local: tag it "local", to run outside Bazel's sandbox, whose user
        namespace would make the kernel store namespaced (v3) file
        capabilities, and which hides the engines' sockets.
      tags: more tags, e.g. "manual".
      data: more data besides `bins`.
      env_inherit: more environment variables to pass through, e.g. the
        directory of prebuilt binaries the test finds by name.
      **kwargs: the other attributes of go_test (srcs, deps, embed, size).
    """
    go_test(
        name = name,
        data = [bins[k] for k in sorted(bins)] + data,
        env = {k: "$(rootpath %s)" % bins[k] for k in sorted(bins)},
        env_inherit = [
            "CI",
            "CAPSLAYER_E2E_STRICT",
        ] + env_inherit,
        tags = ["e2e"] + (["local"] if local else []) + tags,
        **kwargs
    )
