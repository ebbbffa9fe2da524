"""caps_image_push: a runnable target that pushes a caps_image. Private: load it from //rules:defs.bzl."""

load(":providers.bzl", "CapsImageInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")
load(":util.bzl", "image_launcher", "image_launcher_attrs", "rlocation", "shell_quote")

def _caps_image_push_impl(ctx):
    info = ctx.attr.image[CapsImageInfo]
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    capslayer = toolchain.capslayer_info
    return image_launcher(
        ctx,
        substitutions = {
            "%{capslayer}": shell_quote(rlocation(ctx, capslayer.binary)),
            "%{layout}": shell_quote(rlocation(ctx, info.layout)),
        },
        runfiles = ctx.runfiles(files = [info.layout, capslayer.binary]).merge(toolchain.default.default_runfiles),
    )

caps_image_push = rule(
    implementation = _caps_image_push_impl,
    doc = """Pushes a `caps_image` to a registry: `bazel run`, in the style of rules_oci's `oci_push`.

The `caps_image` macro declares one, `<name>_push`. The repository is given at
run time:

```
bazel run //app:image_push -- --repository registry.example.com/app:v1
```

`capslayer push` (no crane, no docker) writes the layout's manifest and
blobs byte for byte, so the digest in the registry is the image's
(`<name>.digest`) and the capabilities and their metadata arrive unchanged.
It prints the pushed reference pinned by digest. Credentials come from the
docker config (`docker login`; `DOCKER_CONFIG`); `--ca-file FILE` trusts a
private CA; `--insecure` allows plain HTTP to a registry on this machine
only.""",
    attrs = image_launcher_attrs(Label(":push.sh.tpl"), doc = "The `caps_image` to push."),
    executable = True,
    toolchains = [TOOLCHAIN_TYPE],
)
