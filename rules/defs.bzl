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

The module registers a `capslayer` toolchain per execution platform: the
prebuilt binaries of its release first, then `capslayer` built from source
with rules_go; see `capslayer_toolchain`.

### Cross-compilation

`caps_layer(platform = ...)` builds `binary` (and `files`) for another
platform, so one BUILD file gives the layers of every architecture from one
host, without `--platforms`:

```starlark
[
    caps_layer(
        name = "server_" + arch,
        binary = ":server",
        path = "/app/server",
        caps = "cap_net_bind_service=ep",
        platform = "@rules_go//go/toolchain:linux_" + arch,
    )
    for arch in ["amd64", "arm64"]
]
```

rules_go cross-compiles pure Go (`--@rules_go//go/config:pure` or
`go_binary(pure = "on")`) with the host SDK; a `cc_binary` needs a C++
toolchain for the target platform. The `capslayer` tool always runs on the
execution platform. Under rules_oci's `oci_image_index(platforms = ...)`,
leave `platform` unset: the index's transition already builds the whole image,
`binary` included, once per platform. See `examples/cross`.

### Images and policies

`caps_image` assembles an OCI image from layers (a `caps_layer`, any tar) on
top of an optional base, without Docker, keeping every layer byte for byte;
`<name>_load` loads it into podman or docker. `caps_policy_test` checks the
file capabilities of an image or layer against a profile, with the reasons for
dangerous capabilities written in BUILD:

```starlark
caps_image(
    name = "server_image",
    layers = [":server_layer"],
    entrypoint = ["/app/server"],
    user = "1000",
    tag = "example.com/server:latest",
)

caps_policy_test(
    name = "server_policy_test",
    image = ":server_image",
    profile = "pss-restricted",
)
```

See `examples/server` and `examples/policy`.

### Composition

* rules_oci: `oci_image(tars = [":server_layer"])`. The layer is copied into
  the image byte for byte; its digest is the sha256 of the file. See
  `examples/rules_oci`.
* rules_pkg: build the other files with `pkg_tar` and give both tars to the
  image. Do not put the layer in `pkg_tar(deps = ...)`: pkg_tar rewrites the
  entries without their PAX records and drops the capabilities.
* Files already in a tar (a `pkg_tar`, tar.bzl's `tar`, a Debian package's
  data tar): `caps_layer(tars = [":pkg"], file_caps = {"/bin/ping":
  "cap_net_raw=p"})` copies the tar with the capabilities set on those files.
  See `examples/rewrite`.
* Files the base image ships (`/usr/sbin/nginx`, `/bin/busybox`):
  `caps_layer(base = "@base", file_caps = {"/bin/busybox":
  "cap_net_bind_service=ep"})` writes a copy-up layer of those files with the
  capabilities, what `RUN setcap` leaves in a Dockerfile's image. For an
  `oci_image`, `caps_labels(base = ..., layers = [...])` writes the
  `io.capslayer.capabilities` label that `capslayer audit` verifies. See
  `examples/baseimage`.
* Own rules: read `CapsLayerInfo`, or run `capslayer` through the toolchain
  (`CAPSLAYER_TOOLCHAIN_TYPE`); genrules get `$(CAPSLAYER_BIN)` with
  `toolchains = ["@rules_capslayer//rules:resolved_toolchain"]`.
"""

load(
    "//rules/private:caps_image.bzl",
    _caps_image = "caps_image",
    _caps_image_rule = "caps_image_rule",
)
load("//rules/private:caps_labels.bzl", _caps_labels = "caps_labels")
load("//rules/private:caps_layer.bzl", _caps_layer = "caps_layer")
load("//rules/private:caps_policy.bzl", _caps_policy_test = "caps_policy_test")
load(
    "//rules/private:providers.bzl",
    _CapsImageInfo = "CapsImageInfo",
    _CapsLayerInfo = "CapsLayerInfo",
    _CapslayerToolchainInfo = "CapslayerToolchainInfo",
)
load("//rules/private:push.bzl", _caps_image_push = "caps_image_push")
load(
    "//rules/private:toolchain.bzl",
    _TOOLCHAIN_TYPE = "TOOLCHAIN_TYPE",
    _capslayer_toolchain = "capslayer_toolchain",
)

# Rules: see docs/rules.md.
caps_layer = _caps_layer
caps_labels = _caps_labels
caps_image = _caps_image
caps_image_rule = _caps_image_rule
caps_image_push = _caps_image_push
caps_policy_test = _caps_policy_test
capslayer_toolchain = _capslayer_toolchain

# Providers: see docs/rules.md.
CapsLayerInfo = _CapsLayerInfo
CapsImageInfo = _CapsImageInfo
CapslayerToolchainInfo = _CapslayerToolchainInfo

# The label of the toolchain type, for rules that run capslayer themselves:
# `toolchains = [CAPSLAYER_TOOLCHAIN_TYPE]`, then
# `ctx.toolchains[CAPSLAYER_TOOLCHAIN_TYPE].capslayer_info` (a CapslayerToolchainInfo).
CAPSLAYER_TOOLCHAIN_TYPE = _TOOLCHAIN_TYPE
