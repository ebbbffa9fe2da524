# rules_capslayer v{VERSION}

Built from commit {COMMIT} with {GO_VERSION}.

## Install

Add to your `MODULE.bazel`:

```starlark
{INSTALL_SNIPPET}
```

That is all: the module registers a prebuilt `capslayer` for linux/amd64,
linux/arm64, darwin/amd64, darwin/arm64 and windows/amd64 execution platforms,
downloaded from this release with the integrity recorded in the archive. You
need neither rules_go nor a Go SDK. To build `capslayer` from source instead,
add `register_toolchains("@rules_capslayer//rules/source:all")` (that path
needs rules_go's Go SDK). Once rules_capslayer is on the Bazel Central
Registry, the `bazel_dep` line alone is enough: drop the `archive_override`.

## Breaking changes since 0.0.x

- The toolchain provider `CapslayerInfo` is now `CapslayerToolchainInfo`
  (`load("@rules_capslayer//rules:defs.bzl", "CapslayerToolchainInfo")`); there
  is no alias. Rules that read `ctx.toolchains[CAPSLAYER_TOOLCHAIN_TYPE].capslayer_info`
  need no change.
- `caps_layer(compression = ...)` and `caps_policy_test(profile = ...)` take
  only their documented values; Bazel now rejects any other when it loads the
  BUILD file.
- The source toolchain is `@rules_capslayer//rules/source:all` (one toolchain
  per execution platform) instead of `@rules_capslayer//rules:capslayer_toolchain`.
