"""Offline stand-in for buildozer's buildozer_binary extension.

bazel_tools uses this extension (for `bazel mod tidy`) and names the repository
it creates, so the repository has to exist; it is empty because offline builds
never run buildozer.
"""

def _empty_repo_impl(rctx):
    rctx.file("BUILD.bazel", "")

_empty_repo = repository_rule(implementation = _empty_repo_impl)

def _buildozer_binary_impl(_module_ctx):
    _empty_repo(name = "buildozer_binary")

buildozer_binary = module_extension(implementation = _buildozer_binary_impl)
