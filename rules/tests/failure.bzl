"""failure_tests: targets that must fail analysis with a given message, and their tests."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _failure_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.want)
    return analysistest.end(env)

failure_test = analysistest.make(
    _failure_test_impl,
    expect_failure = True,
    attrs = {"want": attr.string(mandatory = True)},
)

def failure_tests(rule, failures, base):
    """Declares, for each case, a target that must fail analysis and its test.

    Each target is tagged manual so //... does not build it.

    Args:
      rule: the rule or macro of the targets, e.g. caps_layer.
      failures: name -> (attributes on top of base, None to drop one;
        the expected message after "rules/tests:<name>: ").
      base: the attributes of a valid target.

    Returns:
      The labels of the tests, named after the cases with "_test" ("+" as "_").
    """
    tests = []
    for case, (kwargs, want) in failures.items():
        attrs = dict(base)
        attrs.update(kwargs)
        for k in [k for k, v in attrs.items() if v == None]:
            attrs.pop(k)
        rule(name = case, tags = ["manual"], **attrs)
        test = case.replace("+", "_") + "_test"
        failure_test(
            name = test,
            target_under_test = ":" + case,
            want = "rules/tests:%s: %s" % (case, want),
        )
        tests.append(":" + test)
    return tests
