"""Providers of rules_capslayer. Private: load them from //rules:defs.bzl."""

CapsLayerInfo = provider(
    doc = """Describes a layer written by `caps_layer`.

Rules that assemble images (for example a rule wrapping `oci_image`) or check
policies read this provider instead of parsing the descriptor JSON at analysis
time.""",
    fields = {
        "layer": "File: the layer tar, `<name>.tar`, `<name>.tar.gz` or `<name>.tar.zst`. " +
                 "Byte-for-byte reproducible; pass it to `oci_image(tars = [...])` as is.",
        "descriptor": "File: `<name>.descriptor.json`, the OCI descriptor of the layer " +
                      "(mediaType, digest, size) plus its diff_id and the list of files with their canonical capabilities, " +
                      "as `capslayer describe` writes it. Its own action reads the layer back to compute it, and runs only " +
                      "when something needs this file.",
        "compression": "string: `none`, `gzip` or `zstd`.",
        "media_type": "string: the OCI media type of the layer, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`.",
        "caps": "dict of string to string: the destination path of every file in the layer (absolute, e.g. " +
                "`/app/server`) to the capability text given for it (`\"\"` for a file without capabilities). " +
                "The text is the one written in BUILD; the canonical form is in the descriptor. For a layer made " +
                "from `tars`, only the files `file_caps` names; for one made from `base`, the paths as `file_caps` " +
                "names them (the descriptor has where they are once symlinked directories are resolved). " +
                "Capabilities a tar already carries are known only once the action has read it: the descriptor " +
                "lists every file that carries capabilities in the layer, those from the tar with " +
                "`\"origin\": \"input\"`.",
        "files": "dict of string to File: the destination path of every file in the layer to the file put there; " +
                 "empty for a layer made from `tars`.",
        "platform": "string: the OCI platform the layer's files were built for, `linux/<arch>[/<variant>]` " +
                    "(`linux/arm64` with `platform = \"@rules_go//go/toolchain:linux_arm64\"`, else that of the " +
                    "target platform), or `\"\"` for a CPU that OCI images do not name. A string in the form of " +
                    "`CapsImageInfo.platform` and `capslayer --platform`, not a Bazel platform Label: what a " +
                    "consumer compares it with (an image's or a base's platform, an index entry) is an OCI " +
                    "platform, and a Label would have to be resolved to constraints first.",
        "labels": "File: `<name>.labels`, the line `io.capslayer.capabilities=<json>` for the files of this " +
                  "layer, as `oci_image(labels = ...)` takes it (see `caps_labels` for a whole image).",
    },
)

CapsImageInfo = provider(
    doc = """Describes an image written by `caps_image`.

Rules that push, sign, audit or wrap the image read this provider; `caps_policy_test`
audits `layout`.""",
    fields = {
        "layout": "File (a directory): the OCI image layout `<name>/` (`oci-layout`, `index.json`, " +
                  "`blobs/sha256/...`) holding one image, named in `index.json` by the tag. Byte-for-byte " +
                  "reproducible. rules_oci's `oci_image(base = ...)`, skopeo (`oci:DIR:TAG`), umoci and crane read it.",
        "tarball": "File: `<name>.tar`, the same image as a `docker load` / `podman load` tarball (docker-archive) " +
                   "whose repo tag is `tag`.",
        "digest": "File: `<name>.digest`, the manifest digest (`sha256:...` and a newline), the digest a " +
                  "registry gives the image once pushed.",
        "tag": "string: the image name, `NAME:TAG`.",
        "platform": "string: the OCI platform `os/architecture[/variant]` as given (the form of " +
                    "`CapsLayerInfo.platform`), or `\"\"` when it comes from the base (or is linux/amd64 " +
                    "without a base).",
        "layers": "list of File: the layer tars `caps_image` added on top of the base, bottom first.",
    },
)

CapslayerToolchainInfo = provider(
    doc = """The `capslayer` tool a `capslayer_toolchain` provides.

Rule authors get it from the resolved toolchain:

```starlark
load("@rules_capslayer//rules:defs.bzl", "CAPSLAYER_TOOLCHAIN_TYPE")

def _impl(ctx):
    capslayer = ctx.toolchains[CAPSLAYER_TOOLCHAIN_TYPE].capslayer_info  # a CapslayerToolchainInfo
    ctx.actions.run(executable = capslayer.files_to_run, toolchain = CAPSLAYER_TOOLCHAIN_TYPE, ...)
```""",
    fields = {
        "binary": "File: the `capslayer` executable, built for the execution platform.",
        "files_to_run": "FilesToRunProvider: the executable with its runfiles; pass it as `executable` " +
                        "to `ctx.actions.run` so that the runfiles (if any) are staged too.",
    },
)
