"""Implementation of caps_labels. Private: load it from //rules:defs.bzl."""

load(":providers.bzl", "CapsLayerInfo")
load(":target_platform.bzl", "TargetPlatformInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")
load(":transition.bzl", "platform_transition")
load(":util.bzl", "run_capslayer")
load(":validate.bzl", "LAYER_EXTENSIONS")

_DOC = """Writes the `io.capslayer.capabilities` label of an image that rules_oci assembles.

`caps_image` puts in every image it writes the config label
`io.capslayer.capabilities`: the files of the final filesystem that carry
capabilities, with their capabilities. `capslayer audit`, `requirements` and
`admission-policy` read it and verify it against the layers. rules_oci's
`oci_image` writes no such label; `caps_labels` computes it from the base and
the layers, in the `key=value` file `oci_image(labels = ...)` takes:

```starlark
load("@rules_capslayer//rules:defs.bzl", "caps_labels", "caps_layer")

caps_layer(
    name = "busybox_caps",
    base = ":busybox_base",
    file_caps = {"/bin/busybox": "cap_net_bind_service=ep"},
)

caps_labels(
    name = "labels",
    base = ":busybox_base",
    layers = [":busybox_caps"],
)

oci_image(
    name = "image",
    base = ":busybox_base",
    tars = [":busybox_caps"],
    labels = ":labels",
)
```

Give `layers` every tar of `oci_image(tars = ...)`, in the same order, so
that a later layer that replaces or removes a file counts; and the same `base`,
whose own capability files are listed too. The label then is exactly what the
layers hold: a label that does not match (a layer left out, a file changed)
makes `audit` fail on the image, as it does for a forged label.

The file is `<name>.labels`, the only default output.
"""

def _caps_labels_impl(ctx):
    if not ctx.attr.layers and not ctx.attr.base:
        fail("%s: nothing to read; give the image's 'layers' and its 'base'" % ctx.label)
    layers = []
    for target in ctx.attr.layers:
        if CapsLayerInfo in target:
            layers.append(target[CapsLayerInfo].layer)
        else:
            layers.extend(target[DefaultInfo].files.to_list())
    out = ctx.actions.declare_file(ctx.label.name + ".labels")
    args = ctx.actions.args()
    args.add("labels")
    args.add("--output", out)
    inputs = list(layers)
    if ctx.attr.base:
        files = ctx.attr.base[0][DefaultInfo].files.to_list()
        if len(files) != 1:
            fail("%s: 'base' %s gives %d files; give one OCI image layout directory or docker save tarball" % (ctx.label, ctx.attr.base[0].label, len(files)))
        args.add("--base", files[0].path)
        inputs.append(files[0])
        platform = ctx.attr._platform[0][TargetPlatformInfo].platform
        if platform:
            args.add("--platform", platform)
    args.add_all(layers)
    run_capslayer(
        ctx,
        args,
        inputs = inputs,
        outputs = [out],
        mnemonic = "CapsLabels",
        progress_message = "Writing the io.capslayer.capabilities label %{output} for %{label}",
    )
    return [DefaultInfo(files = depset([out]))]

caps_labels = rule(
    implementation = _caps_labels_impl,
    doc = _DOC,
    attrs = {
        "base": attr.label(
            doc = "The image's base: the same target as `oci_image(base = ...)`, an OCI image layout " +
                  "directory or a `docker save` tarball. Of a multi-platform base, the image of the target " +
                  "platform (or `platform`).",
            allow_files = True,
            cfg = platform_transition,
        ),
        "layers": attr.label_list(
            doc = "The image's layer tars, bottom first: the same list as `oci_image(tars = ...)`.",
            allow_files = LAYER_EXTENSIONS,
        ),
        "platform": attr.label(
            doc = "Pick this platform's image of a multi-platform `base` instead of the target platform's.",
        ),
        "_platform": attr.label(
            default = "//rules/private:current_platform",
            cfg = platform_transition,
            providers = [TargetPlatformInfo],
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    toolchains = [TOOLCHAIN_TYPE],
)
