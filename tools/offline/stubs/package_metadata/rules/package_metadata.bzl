"""The package_metadata rule that gazelle's go_deps repositories call.

gazelle writes `repo(default_package_metadata = [..., "//:package_metadata"])`
into every go_repository, so the rule must not depend on the package's default
metadata itself: the macro sets `applicable_licenses = []`, otherwise Bazel
reports a self-edge cycle in the dependency graph.
"""

def _package_metadata_impl(_ctx):
    return []

_package_metadata = rule(
    implementation = _package_metadata_impl,
    attrs = {
        "attributes": attr.label_list(),
        "purl": attr.string(),
    },
)

def package_metadata(name, **kwargs):
    """Declares package metadata; the offline stand-in records nothing.

    Args:
      name: name of the target.
      **kwargs: purl and attributes, accepted and ignored.
    """
    _package_metadata(name = name, applicable_licenses = [], **kwargs)
