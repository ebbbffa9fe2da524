"""Public API of rules_capslayer: give container binaries Linux file capabilities.

This file is the API. Everything under `rules/private/` may change without
notice; load only from here.

Typical usage, in a `BUILD.bazel` file:

```starlark
load("@rules_capslayer//rules:defs.bzl", "caps_layer")

caps_layer(
    name = "server_layer",
    binary = ":server",
    path = "/app/server",
    caps = "cap_net_bind_service=ep",
)
```

and then `oci_image(tars = [":server_layer"], ...)` (rules_oci). In
`MODULE.bazel`:

```starlark
bazel_dep(name = "rules_capslayer", version = "...")
```

The module registers a toolchain that builds `capslayer` from source; see
`capslayer_toolchain` to use a prebuilt binary.
"""

load("//rules/private:caps_layer.bzl", _caps_layer = "caps_layer")
load(
    "//rules/private:providers.bzl",
    _CapsLayerInfo = "CapsLayerInfo",
    _CapslayerInfo = "CapslayerInfo",
)
load(
    "//rules/private:toolchain.bzl",
    _TOOLCHAIN_TYPE = "TOOLCHAIN_TYPE",
    _capslayer_toolchain = "capslayer_toolchain",
)

# Rules: see docs/rules.md.
caps_layer = _caps_layer
capslayer_toolchain = _capslayer_toolchain

# Providers: see docs/rules.md.
CapsLayerInfo = _CapsLayerInfo
CapslayerInfo = _CapslayerInfo

# The label of the toolchain type, for rules that run capslayer themselves:
# `toolchains = [CAPSLAYER_TOOLCHAIN_TYPE]`, then
# `ctx.toolchains[CAPSLAYER_TOOLCHAIN_TYPE].capslayer_info` (a CapslayerInfo).
CAPSLAYER_TOOLCHAIN_TYPE = _TOOLCHAIN_TYPE
