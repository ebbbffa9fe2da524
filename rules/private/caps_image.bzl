"""Implementation of caps_image. Private: load it from //rules:defs.bzl."""

load(":providers.bzl", "CapsImageInfo", "CapsLayerInfo")
load(":push.bzl", "caps_image_push")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")
load(":util.bzl", "check", "image_launcher", "image_launcher_attrs", "rlocation", "run_capslayer", "shell_quote")
load(
    ":validate.bzl",
    "LAYER_EXTENSIONS",
    "check_key_values",
    "check_platform",
    "check_port",
    "check_tag",
    "default_tag",
)

_DOC = """Assembles an OCI image from layer tars, with their file capabilities intact.

This is the `FROM` + `COPY` + `USER` + `ENTRYPOINT` of a Dockerfile without
Docker: `capslayer image` adds each layer **unchanged** (the layer blob is the
file's bytes, so the PAX records carrying `security.capability` survive and the
layer digest is the sha256 of the file) on top of an optional base, writes the
config, and checks that the entrypoint is an executable file of the final
filesystem. The image is bit-for-bit reproducible: same inputs, same manifest
digest, on any machine.

The image says which of its files carry capabilities without being unpacked:
the config label `io.capslayer.capabilities` maps each such file of the final
filesystem to its capability text (`{"/app/server":"cap_net_bind_service=ep"}`),
and the manifest descriptor of each layer holding some has the annotation of
the same name for that layer's files (docs/image.md).

```starlark
load("@rules_capslayer//rules:defs.bzl", "caps_image", "caps_layer")

caps_layer(
    name = "server_layer",
    binary = ":server",
    path = "/app/server",
    caps = "cap_net_bind_service=ep",
)

caps_image(
    name = "server_image",
    layers = [":server_layer"],
    entrypoint = ["/app/server"],
    user = "1000",
    exposed_ports = ["80/tcp"],
    tag = "example.com/server:latest",
)
```

`bazel run :server_image_load` then loads it into podman (or docker), and
`capslayer requirements` tells which `--cap-add` it needs (output group
`requirements`).

Outputs:

* `<name>/`: the OCI image layout, the default output. rules_oci consumes OCI
  layout directories, so `oci_image(base = ":server_image", ...)` builds on it,
  and `oci_push(image = ":server_image", ...)` can push it.
* `<name>.tar` (output group `tarball`): the `docker load` / `podman load`
  tarball, written from the layout by an action of its own (`capslayer image
  tarball`) only when something asks for it: the output group, `<name>_load`
  or `CapsImageInfo.tarball`.
* `<name>.digest` (output group `digest`): the manifest digest.
* `<name>.requirements.txt` (output group `requirements`): what `capslayer
  requirements` prints for the image: the capabilities the runtime must grant,
  the `docker run` / `podman run` flags and the Kubernetes `securityContext`.
  Built only when asked for.
* `<name>.admission.yaml` (output group `admission`): a Kubernetes
  ValidatingAdmissionPolicy and its binding that admit containers of this
  image (pinned by digest) only with the capabilities its files carry
  (`capslayer admission-policy`, docs/admission.md). Built only when asked for.
* `CapsImageInfo` for rules that build on the image.

`base` is an OCI image layout directory (another `caps_image`, rules_oci's
`oci_image` or `oci_pull`, or a checked-in directory) or a `docker save`
tarball. A base holding several images (a multi-platform index) needs
`architecture` (and `os`, `variant`) or `base_ref` to pick one; a base of
another platform than the one asked for is refused.

`SOURCE_DATE_EPOCH` is not read: the config's created time is `created`, by
default 1970-01-01T00:00:00Z.
"""

def _layer_files(target):
    """The layer tars a `layers` target stands for, in order."""
    if CapsLayerInfo in target:
        return [target[CapsLayerInfo].layer]
    return target[DefaultInfo].files.to_list()

def _caps_image_impl(ctx):
    attr = ctx.attr
    tag = attr.tag or default_tag(ctx.label)
    problem = check_tag(tag)
    if problem and not attr.tag:
        problem = "the default tag \"%s\" (from the label) is not a valid image name: set 'tag', e.g. tag = \"example.com/%s:latest\"" % (tag, ctx.label.name.lower())
    check(ctx, problem)
    for port in attr.exposed_ports:
        check(ctx, check_port(port))
    check(ctx, check_key_values("env", attr.env))
    check(ctx, check_key_values("labels", attr.labels))
    check(ctx, check_platform(attr.os, attr.architecture, attr.variant))
    if attr.workdir and not attr.workdir.startswith("/"):
        fail("%s: 'workdir' must be absolute, got \"%s\"; write \"/%s\"" % (ctx.label, attr.workdir, attr.workdir))
    if not attr.layers and not attr.base:
        fail("%s: the image would be empty; give 'layers' (e.g. a caps_layer) and/or a 'base'" % ctx.label)

    layers = []
    for target in attr.layers:
        layers.extend(_layer_files(target))
    base = ctx.file.base
    platform = ""
    if attr.architecture:
        platform = "%s/%s" % (attr.os, attr.architecture)
        if attr.variant:
            platform += "/" + attr.variant

    layout = ctx.actions.declare_directory(ctx.label.name)
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")

    args = ctx.actions.args()
    args.add("image")
    if base:
        args.add("--base", base.path)
    if attr.base_ref:
        args.add("--base-ref", attr.base_ref)
    if platform:
        args.add("--platform", platform)
    for layer in layers:
        args.add("--layer", layer)

    # JSON arrays: a word starting with "[" would otherwise be read as one.
    if attr.entrypoint:
        args.add("--entrypoint", json.encode(attr.entrypoint))
    if attr.cmd:
        args.add("--cmd", json.encode(attr.cmd))
    if attr.user:
        args.add("--user", attr.user)
    if attr.workdir:
        args.add("--workdir", attr.workdir)
    for key, value in attr.env.items():
        args.add("--env", "%s=%s" % (key, value))
    for key, value in attr.labels.items():
        args.add("--label", "%s=%s" % (key, value))
    for port in attr.exposed_ports:
        args.add("--expose", port)
    if attr.created:
        args.add("--created", attr.created)
    if not attr.check_entrypoint:
        args.add("--no-entrypoint-check")
    args.add("--output", layout.path)
    args.add("--tag", tag)
    args.add("--digest-file", digest)

    # Errors say how to fix them with this rule's attributes
    # (check_entrypoint = False, base_ref...), not the CLI's flags.
    args.add("--hint-style", "bazel")

    # The created time is the `created` attribute or the epoch, never the
    # host's SOURCE_DATE_EPOCH: run_capslayer passes no env.
    run_capslayer(
        ctx,
        args,
        inputs = layers + ([base] if base else []),
        outputs = [layout, digest],
        mnemonic = "CapsImage",
        progress_message = "Assembling OCI image %{label}",
    )
    run_capslayer(
        ctx,
        ctx.actions.args()
            .add_all(["image", "tarball", "--tag", tag])
            .add("--output", tarball)
            .add(layout.path),
        inputs = [layout],
        outputs = [tarball],
        mnemonic = "CapsImageTarball",
        progress_message = "Writing the docker load tarball of %{label}",
    )

    requirements = ctx.actions.declare_file(ctx.label.name + ".requirements.txt")
    run_flags = ctx.actions.declare_file(ctx.label.name + ".run_flags.txt")
    admission = ctx.actions.declare_file(ctx.label.name + ".admission.yaml")
    for out, command, flags, mnemonic, progress in [
        (requirements, "requirements", ["--image", tag], "CapsRequirements", "Computing the runtime requirements of %{label}"),
        (run_flags, "requirements", ["--only", "flags", "--image", tag], "CapsRequirements", "Computing the runtime requirements of %{label}"),
        (admission, "admission-policy", [], "CapsAdmissionPolicy", "Writing the admission policy of %{label}"),
    ]:
        # A file computed from the layout.
        run_capslayer(
            ctx,
            ctx.actions.args()
                .add(command)
                .add("--output", out)
                .add_all(flags)
                .add(layout.path),
            inputs = [layout],
            outputs = [out],
            mnemonic = mnemonic,
            progress_message = progress,
        )

    return [
        DefaultInfo(files = depset([layout])),
        OutputGroupInfo(
            admission = depset([admission]),
            tarball = depset([tarball]),
            digest = depset([digest]),
            requirements = depset([requirements]),
            run_flags = depset([run_flags]),
        ),
        CapsImageInfo(
            layout = layout,
            tarball = tarball,
            digest = digest,
            tag = tag,
            platform = platform,
            layers = layers,
        ),
    ]

caps_image_rule = rule(
    implementation = _caps_image_impl,
    doc = _DOC + "\nUse it through the `caps_image` macro, which adds `<name>_load`.",
    attrs = {
        "layers": attr.label_list(
            doc = "Layer tars to add on top of `base`, bottom first: `caps_layer` targets, `pkg_tar`, " +
                  "or any `.tar`, `.tar.gz`/`.tgz`, `.tar.zst`/`.tzst` file. Each is added byte for byte; " +
                  "a later layer hides the files of earlier ones at the same path.",
            allow_files = LAYER_EXTENSIONS,
        ),
        "base": attr.label(
            doc = "The base image: a target giving an OCI image layout directory (another `caps_image`, " +
                  "rules_oci's `oci_image` or `oci_pull`) or a `docker save` tarball. Default: none (scratch). " +
                  "Its layers are kept byte for byte, and its config (env, user, entrypoint...) is the " +
                  "starting point the other attributes change.",
            allow_single_file = True,
        ),
        "base_ref": attr.string(
            doc = "Which image of a `base` holding several (tags or platforms): a tag or a manifest digest.",
        ),
        "entrypoint": attr.string_list(
            doc = "The entrypoint, one word per element: `[\"/app/server\", \"-raise\"]`. Its first word " +
                  "must be an executable file of the final filesystem (a bare name is looked up in the " +
                  "image's PATH). Empty: the base's.",
        ),
        "check_entrypoint": attr.bool(
            doc = "Check that the entrypoint (or the first `cmd` word without one) is an executable file " +
                  "of the final filesystem, following layers, whiteouts and symlinks, so that a typo fails " +
                  "the build instead of `docker run`. Turn it off for an image meant as a base whose " +
                  "entrypoint comes later.",
            default = True,
        ),
        "cmd": attr.string_list(
            doc = "The command (arguments to the entrypoint), one word per element. Empty: the base's.",
        ),
        "user": attr.string(
            doc = "The user to run as: a uid (`\"1000\"`), `uid:gid`, or a name from the image's " +
                  "`/etc/passwd`. File capabilities are what give a non-root user its capabilities. " +
                  "Empty: the base's (root without a base).",
        ),
        "workdir": attr.string(
            doc = "The working directory, absolute. Empty: the base's.",
        ),
        "env": attr.string_dict(
            doc = "Environment variables, in this order; each replaces the base's variable of the same name.",
        ),
        "labels": attr.string_dict(
            doc = "Config labels, e.g. `{\"org.opencontainers.image.source\": \"https://...\"}`.",
        ),
        "exposed_ports": attr.string_list(
            doc = "Exposed ports: `PORT` or `PORT/PROTO` with PROTO `tcp`, `udp` or `sctp`, e.g. `[\"80/tcp\"]`.",
        ),
        "os": attr.string(
            doc = "The operating system of the image, with `architecture`.",
            default = "linux",
        ),
        "architecture": attr.string(
            doc = "The CPU architecture (`amd64`, `arm64`, `arm`...). It picks the image of a multi-platform " +
                  "`base`, and a single-platform `base` must match it. Empty: the base's, or linux/amd64 " +
                  "without a base. It does not build anything for that platform: give layers built for it " +
                  "(`caps_layer(platform = ...)`).",
        ),
        "variant": attr.string(
            doc = "The CPU variant, e.g. `v7` for `arm`; needs `architecture`.",
        ),
        "tag": attr.string(
            doc = "The image name, `NAME:TAG`: the tarball's repo tag (what `docker load` names the image) " +
                  "and, in the layout's `index.json`, the `org.opencontainers.image.ref.name` annotation " +
                  "(the TAG part). Default: `bazel/<package>:<name>`.",
        ),
        "created": attr.string(
            doc = "The config's created time: seconds since the epoch or RFC 3339. Default: " +
                  "1970-01-01T00:00:00Z. `SOURCE_DATE_EPOCH` is not read, so the image does not depend on " +
                  "the environment; stamp it here if you want a real date.",
        ),
    },
    toolchains = [TOOLCHAIN_TYPE],
    provides = [CapsImageInfo],
)

def _caps_image_load_impl(ctx):
    info = ctx.attr.image[CapsImageInfo]
    run_flags = ctx.attr.image[OutputGroupInfo].run_flags.to_list()[0]
    return image_launcher(
        ctx,
        substitutions = {
            "%{tarball}": shell_quote(rlocation(ctx, info.tarball)),
            "%{run_flags}": shell_quote(rlocation(ctx, run_flags)),
            "%{tag}": shell_quote(info.tag),
        },
        runfiles = ctx.runfiles(files = [info.tarball, run_flags]),
    )

caps_image_load = rule(
    implementation = _caps_image_load_impl,
    doc = """Loads a `caps_image` into podman, or docker when podman is absent: `bazel run`.

The `caps_image` macro declares one, `<name>_load`. Arguments after `--` go to
`podman load` / `docker load`. `CAPSLAYER_LOAD_TOOL` (`podman`, `docker`, or
the path of a compatible CLI) forces the tool.""",
    attrs = image_launcher_attrs(Label(":load.sh.tpl"), doc = "The `caps_image` to load."),
    executable = True,
)

def caps_image(name, **kwargs):
    """Declares a `caps_image_rule` target `name`, a runnable `<name>_load` and `<name>_push`.

    ```starlark
    caps_image(
        name = "server_image",
        layers = [":server_layer"],
        entrypoint = ["/app/server"],
        user = "1000",
        tag = "example.com/server:latest",
    )
    ```

    `bazel run :server_image_load` loads `server_image.tar` into podman, or
    docker when podman is not installed, and prints how to run it with the
    capabilities it needs:

    ```
    Loaded image: example.com/server:latest
    example.com/server:latest loaded into podman. Run it with:
      podman run --rm --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/server:latest
    ```

    `CAPSLAYER_LOAD_TOOL=docker bazel run :server_image_load` picks docker.

    `bazel run :server_image_push -- --repository registry.example.com/server:v1`
    pushes the image (see [caps_image_push](#caps_image_push)).

    Args:
      name: the name of the image target; the load and push targets are `<name>_load` and `<name>_push`.
      **kwargs: the attributes of [caps_image_rule](#caps_image_rule) (`layers`, `base`,
        `entrypoint`, `user`, `tag`...), plus the common ones (`visibility`,
        `tags`, `testonly`...), which the load target gets too.
    """
    caps_image_rule(name = name, **kwargs)
    common = {k: kwargs[k] for k in ["visibility", "tags", "testonly", "target_compatible_with"] if k in kwargs}
    caps_image_load(
        name = name + "_load",
        image = ":" + name,
        **common
    )
    caps_image_push(
        name = name + "_push",
        image = ":" + name,
        **common
    )
