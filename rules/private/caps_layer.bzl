"""Implementation of caps_layer. Private: load it from //rules:defs.bzl."""

load(":providers.bzl", "CapsLayerInfo")
load(":target_platform.bzl", "TargetPlatformInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")
load(":transition.bzl", "platform_transition")
load(":util.bzl", "check", "run_capslayer")
load(
    ":validate.bzl",
    "COMPRESSIONS",
    "LAYER_EXTENSIONS",
    "check_caps",
    "check_copy_up",
    "check_files_dest",
    "check_int",
    "check_layout",
    "check_mode",
    "check_owner",
    "check_path",
    "check_tar_count",
    "check_tar_rewrite",
)

_DOC = """Writes an OCI layer tar in which files carry Linux file capabilities.

This is what `COPY server /app/server` + `RUN setcap cap_net_bind_service=ep
/app/server` does in a Dockerfile, without Docker, root or setcap: `capslayer`
writes the tar entry of each file with the PAX record
`SCHILY.xattr.security.capability` holding the kernel's `vfs_cap_data` bytes.
The layer is bit-for-bit reproducible: fixed owner, mode and mtime, sorted
entries with their parent directories, nothing taken from the host.

```starlark
load("@rules_capslayer//rules:defs.bzl", "caps_layer")

caps_layer(
    name = "server_layer",
    binary = ":server",               # go_binary, cc_binary, or a prebuilt file
    path = "/app/server",
    caps = "cap_net_bind_service=ep",
)

oci_image(
    name = "image",
    base = "@distroless_static",
    tars = [":server_layer"],         # server_layer.tar
    entrypoint = ["/app/server"],
    user = "65532:65532",
)
```

Several files, each with its own capabilities or none, go in one layer with
`files` and `file_caps`:

```starlark
caps_layer(
    name = "tools_layer",
    binary = ":server",
    path = "/app/server",
    caps = "cap_net_bind_service=p",
    files = {
        ":tcpdump": "/usr/bin/tcpdump",
        ":config": "/etc/server/config.json",
    },
    file_caps = {"/usr/bin/tcpdump": "cap_net_raw,cap_net_admin=ep"},
)
```

Files that are already in a tar (a `pkg_tar` output, tar.bzl's `tar`, a
Debian package's `data.tar` unpacked by rules_distroless, a layer of a base
image) get capabilities with `tars` and `file_caps`, as a package's postinst
would have run `setcap`:

```starlark
caps_layer(
    name = "ping_layer",
    tars = [":iputils_data"],          # one tar: plain, gzip or zstd
    file_caps = {"/bin/ping": "cap_net_raw=p"},
)
```

The layer is that tar with `security.capability` set (or replaced) on each
named regular file; every other entry and byte is copied unchanged (headers,
PAX records and xattrs, hard links, symlinks, whiteouts, long names), and the
entries keep their own modes, owners and mtimes, so `binary`, `path`, `caps`,
`files`, `mode`, `owner` and `mtime` do not go with `tars`. A named path that
is missing from the tar, is a directory, a symlink or a hard link (the error
names its target), or is in the tar twice fails the build. `tars` takes one
tar: concatenating several into one layer would change what their whiteouts
hide and which of two entries at a path wins, so give the others to the image
as layers of their own (or merge them first with `pkg_tar(deps = ...)`).

Do not merge the layer into a `pkg_tar` through `deps`: pkg_tar rewrites the
entries without their PAX records and the capabilities are lost. Pass both
tars to the image instead.

A file the base image already ships (`/usr/sbin/nginx`, `/bin/busybox`,
`/usr/bin/node`) gets capabilities with `base` and `file_caps`: a copy-up
layer, what `RUN setcap cap_net_bind_service=ep /usr/sbin/nginx` leaves in
a Dockerfile's image, without running the image.

```starlark
caps_layer(
    name = "nginx_caps",
    base = "@nginx_base",              # oci_pull, oci_image or caps_image
    file_caps = {"/usr/sbin/nginx": "cap_net_bind_service=ep"},
)

caps_labels(
    name = "labels",                   # the io.capslayer.capabilities label
    base = "@nginx_base",
    layers = [":nginx_caps"],
)

oci_image(
    name = "image",
    base = "@nginx_base",
    tars = [":nginx_caps"],
    labels = ":labels",
    user = "1000",
)
```

The layer holds each named file of the base's final filesystem (whiteouts
and opaque directories applied, symlinked parent directories followed: a
name through `/bin -> usr/bin` is stored at `/usr/bin/...`) with its bytes,
mode, owner and mtime and the capabilities, plus its parent directories
with the base's metadata, and nothing else. A multi-platform base gives the
image of the target platform (or of `platform`), so the rule works under
`oci_image_index`'s transition. The base's layers are read from the top down
to the one holding the file, checked against their digests, never unpacked.
A setuid, setgid or world-writable file (unless `allow_unsafe_mode`), a
file that already has capabilities (unless `replace_caps`), a directory, a symlink (the error
names its target) or a path the base does not have (the error lists the
layers read) fails the build. A hard-linked file is copied alone: its other
names keep the original file and its capabilities.

Outputs:

* `<name>.tar`, `<name>.tar.gz` or `<name>.tar.zst` (after `compression`): the
  layer, the only default output, so `oci_image(tars = [":name"])` takes it.
* `<name>.descriptor.json`: its OCI descriptor with diff_id and the files'
  canonical capabilities, in the output group `descriptor` and
  `CapsLayerInfo`. A separate action (`capslayer describe`) computes it from
  the layer, only when something asks for it: the layer action itself hashes
  nothing, because `oci_image` and `caps_image` hash the layer they are given.
  For `tars`, it lists every file that carries capabilities in the layer, with
  `origin` `"set"` (from `file_caps`) or `"input"` (already in the tar).
* `<name>.labels`: `io.capslayer.capabilities=<json>`, the image config label
  `capslayer image` writes, for the files of this layer, in the `key=value`
  form `oci_image(labels = ...)` takes; in the output group `labels`. With
  several layers, or a base that has capability files of its own, write the
  image's label with `caps_labels`.
* `CapsLayerInfo` for rules that build on the layer.

`SOURCE_DATE_EPOCH` is not read: the mtime comes from the `mtime` attribute.
"""

def _single_file(ctx, target, attr):
    """The one file a `binary` or `files` target stands for.

    A rule with an executable (go_binary, cc_binary) gives its executable; any
    other target must give exactly one file.
    """
    executable = target[DefaultInfo].files_to_run.executable
    if executable:
        return executable
    files = target[DefaultInfo].files.to_list()
    if len(files) != 1:
        fail("%s: '%s' target %s gives %d files (%s); caps_layer needs one file per destination: use a rule that outputs one executable, or a filegroup with one file" % (
            ctx.label,
            attr,
            target.label,
            len(files),
            ", ".join([f.short_path for f in files[:5]]) + (", ..." if len(files) > 5 else ""),
        ))
    return files[0]

def _set_attrs(attr, names):
    """The attributes among `names` that are set (differ from their defaults).

    A layer of existing files (`tars` or `base`) takes none of the attributes
    that describe a new file.
    """
    is_set = {
        "binary": attr.binary,
        "caps": attr.caps,
        "files": attr.files,
        "mode": attr.mode != "0755",
        "mtime": attr.mtime != 0,
        "owner": attr.owner != "0:0",
        "path": attr.path,
        "tars": attr.tars,
    }
    return [name for name in names if is_set[name]]

def _check_file_caps(ctx):
    """Fails on a `file_caps` value that is not a capability text."""
    for path, caps in ctx.attr.file_caps.items():
        check(ctx, check_caps("file_caps[\"%s\"]" % path, caps))

def _tar_rewrite(ctx):
    """Checks the attributes of a layer made from `tars`.

    Returns:
      The `capslayer layer` arguments so far, the inputs, and the `caps` and
      `files` of CapsLayerInfo.
    """
    attr = ctx.attr
    conflicting = _set_attrs(attr, ["binary", "path", "caps", "files", "mode", "owner", "mtime"])
    check(ctx, check_tar_rewrite(conflicting, attr.file_caps))
    _check_file_caps(ctx)
    tars = [f for target in attr.tars for f in target[DefaultInfo].files.to_list()]
    check(ctx, check_tar_count(tars))

    args = ctx.actions.args()
    args.add("layer")
    args.add("--from-tar", tars[0])
    for path in sorted(attr.file_caps.keys()):
        args.add("--set", "%s=%s" % (path, attr.file_caps[path]))
    return args, tars, dict(attr.file_caps), {}

def _copy_up(ctx):
    """Checks the attributes of a copy-up layer from `base`.

    Returns:
      The `capslayer layer` arguments so far, the inputs, and the `caps` and
      `files` of CapsLayerInfo.
    """
    attr = ctx.attr
    conflicting = _set_attrs(attr, ["binary", "path", "caps", "files", "tars", "mode", "owner", "mtime"])
    check(ctx, check_copy_up(conflicting, attr.file_caps))
    _check_file_caps(ctx)
    base = _single_file(ctx, attr.base[0], "base")
    args = ctx.actions.args()
    args.add("layer")
    args.add("--from-image", base.path)
    platform = attr._platform[0][TargetPlatformInfo].platform
    if platform:
        args.add("--platform", platform)
    if attr.replace_caps:
        args.add("--replace-caps")
    for path in sorted(attr.file_caps.keys()):
        args.add("--set", "%s=%s" % (path, attr.file_caps[path]))
    return args, [base], dict(attr.file_caps), {}

def _caps_layer_impl(ctx):
    attr = ctx.attr

    # Validate every attribute before declaring anything.
    check(ctx, check_int("rootid", attr.rootid, 4294967294))
    if attr.replace_caps and not attr.base:
        fail("%s: 'replace_caps' is for the files of 'base', which is not set" % ctx.label)
    if attr.base:
        args, inputs, caps_by_path, files_by_path = _copy_up(ctx)
    elif attr.tars:
        args, inputs, caps_by_path, files_by_path = _tar_rewrite(ctx)
    else:
        args, inputs, caps_by_path, files_by_path = _new_layer(ctx)

    compression = COMPRESSIONS[attr.compression]
    layer = ctx.actions.declare_file(ctx.label.name + compression.extension)
    if attr.allow_unsafe_mode:
        args.add("--allow-unsafe-mode")
    if attr.rootid:
        args.add("--rootid", str(attr.rootid))
    args.add("--compression", attr.compression)
    args.add("--output", layer)

    # Errors say how to fix them with this rule's attributes
    # (allow_unsafe_mode = True, replace_caps...), not the CLI's flags.
    args.add("--hint-style", "bazel")

    # The layer action hashes nothing: rules_oci hashes the layer itself,
    # so only the descriptor action below, run when something asks for the
    # descriptor, reads the layer back for its digests.
    run_capslayer(
        ctx,
        args,
        inputs = inputs,
        outputs = [layer],
        mnemonic = "CapsLayer",
        progress_message = "Writing file-capability layer %{output} for %{label}",
    )
    descriptor = _describe(ctx, layer, sorted(attr.file_caps.keys()) if attr.tars else None)

    labels = ctx.actions.declare_file(ctx.label.name + ".labels")
    labels_args = ctx.actions.args()
    labels_args.add("labels")
    labels_args.add("--output", labels)
    labels_args.add(layer)
    run_capslayer(
        ctx,
        labels_args,
        inputs = [layer],
        outputs = [labels],
        mnemonic = "CapsLabels",
        progress_message = "Writing the io.capslayer.capabilities label of %{label}",
    )

    return [
        DefaultInfo(files = depset([layer])),
        OutputGroupInfo(
            descriptor = depset([descriptor]),
            labels = depset([labels]),
            layer = depset([layer]),
        ),
        CapsLayerInfo(
            layer = layer,
            descriptor = descriptor,
            compression = attr.compression,
            media_type = compression.media_type,
            caps = caps_by_path,
            files = files_by_path,
            labels = labels,
            platform = attr._platform[0][TargetPlatformInfo].platform,
        ),
    ]

def _describe(ctx, layer, paths):
    """Declares `<name>.descriptor.json` and the action that computes it.

    Args:
      ctx: the rule context.
      layer: the layer File.
      paths: for a layer made from `tars`, the files to list (the ones
        `file_caps` names); None lists every regular file.

    Returns:
      The descriptor File.
    """
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    args = ctx.actions.args()
    args.add("describe")
    for path in paths or []:
        args.add("--path", path)
    args.add("--compression", ctx.attr.compression)
    args.add("--output", descriptor)
    args.add(layer)
    run_capslayer(
        ctx,
        args,
        inputs = [layer],
        outputs = [descriptor],
        mnemonic = "CapsLayerDescriptor",
        progress_message = "Describing layer %{input} for %{label}",
    )
    return descriptor

def _new_layer(ctx):
    """Checks the attributes of a layer of new files (`binary`, `files`).

    Returns:
      The `capslayer layer` arguments so far, the inputs, and the `caps` and
      `files` of CapsLayerInfo.
    """
    attr = ctx.attr
    check(ctx, check_mode(attr.mode))
    check(ctx, check_owner(attr.owner))
    check(ctx, check_int("mtime", attr.mtime, 2147483647))

    binary = attr.binary[0] if attr.binary else None
    if binary:
        check(ctx, check_path("path", attr.path))
        check(ctx, check_caps("caps", attr.caps))
    elif attr.path or attr.caps:
        fail("%s: 'path' and 'caps' describe 'binary', which is not set; set 'binary' or put the file in 'files'" % ctx.label)
    if not binary and not attr.files:
        fail("%s: the layer would be empty; set 'binary' (with 'path' and 'caps'), 'files', or 'tars' (with 'file_caps')" % ctx.label)

    # attr.files maps Target -> destination; keep attribute order.
    extra = [(target, dest) for target, dest in attr.files.items()]
    for _, dest in extra:
        check(ctx, check_files_dest(dest))
    for dest, caps in attr.file_caps.items():
        check(ctx, check_caps("file_caps[\"%s\"]" % dest, caps))
    check(ctx, check_layout(attr.path if binary else "", [d for _, d in extra], attr.file_caps))

    args = ctx.actions.args()
    args.add("layer")
    inputs = []
    caps_by_path = {}
    files_by_path = {}
    if binary:
        src = _single_file(ctx, binary, "binary")
        inputs.append(src)
        args.add("--binary", src)
        args.add("--path", attr.path)
        args.add("--caps", attr.caps)
        caps_by_path[attr.path] = attr.caps
        files_by_path[attr.path] = src
    for target, dest in extra:
        src = _single_file(ctx, target, "files")
        inputs.append(src)
        caps = attr.file_caps.get(dest, "")

        # --file DEST=SRC[:CAPS]: CAPS starts after the last ':', so a source
        # path containing ':' needs the ':' even without capabilities.
        spec = "%s=%s" % (dest, src.path)
        if caps or ":" in src.path:
            spec += ":" + caps
        args.add("--file", spec)
        caps_by_path[dest] = caps
        files_by_path[dest] = src
    args.add("--mode", attr.mode)
    args.add("--owner", attr.owner)
    args.add("--mtime", str(attr.mtime))
    return args, inputs, caps_by_path, files_by_path

caps_layer = rule(
    implementation = _caps_layer_impl,
    doc = _DOC,
    attrs = {
        "binary": attr.label(
            doc = "The file that gets `caps`: a target giving one executable (`go_binary`, " +
                  "`cc_binary`, ...) or one file (a prebuilt binary). Built for `platform` when it is set. " +
                  "Only the file itself goes in the layer, not its runfiles.",
            allow_files = True,
            cfg = platform_transition,
        ),
        "path": attr.string(
            doc = "Where `binary` goes in the image: an absolute, clean path such as `/app/server`. " +
                  "Its parent directories are added to the layer (mode 0755, owner 0:0).",
        ),
        "caps": attr.string(
            doc = "The capabilities of `binary`, in any form `capslayer --caps` takes: setcap/cap_from_text " +
                  "text (`cap_net_bind_service=ep`, `cap_bpf,cap_perfmon=p`), names (`NET_BIND_SERVICE`), " +
                  "numbers. Prefer `=p` plus promotion in the program over `=ep`: with `=ep`, exec fails with " +
                  "EPERM when the runtime's bounding set lacks one of the capabilities.",
        ),
        "files": attr.label_keyed_string_dict(
            doc = "More files for the same layer: target to absolute destination, as in `pkg_tar`. " +
                  "Each target must give one file. They carry no capabilities unless `file_caps` names them.",
            allow_files = True,
            cfg = platform_transition,
        ),
        "file_caps": attr.string_dict(
            doc = "Capabilities of the files in `files`, by destination: " +
                  "`{\"/usr/bin/tcpdump\": \"cap_net_raw=ep\"}`. Every key must be a destination in `files`. " +
                  "With `tars`, the capabilities of files of the tar, by absolute path in the image " +
                  "(`{\"/bin/ping\": \"cap_net_raw=p\"}`): each must be a regular file of the tar.",
        ),
        "tars": attr.label_list(
            doc = "One existing layer tar (`.tar`, `.tar.gz`/`.tgz`, `.tar.zst`/`.tzst`; the compression is " +
                  "read from its bytes) to copy with capabilities set on the files `file_caps` names: a " +
                  "`pkg_tar`, tar.bzl's `tar`, a Debian package's data tar. Every other entry is copied unchanged " +
                  "and entries keep their modes, owners and mtimes, so `binary`, `path`, `caps`, `files`, `mode`, " +
                  "`owner` and `mtime` do not go with it. Exactly one tar: give others to the image as layers of " +
                  "their own. Built for `platform` when it is set.",
            allow_files = LAYER_EXTENSIONS,
            cfg = platform_transition,
        ),
        "base": attr.label(
            doc = "A base image whose files `file_caps` names, by absolute path in its final filesystem " +
                  "(`{\"/usr/sbin/nginx\": \"cap_net_bind_service=ep\"}`): an OCI image layout directory " +
                  "(rules_oci's `oci_pull` or `oci_image`, a `caps_image`) or a `docker save` tarball. The " +
                  "layer is a copy-up of those files with the capabilities (see above); `binary`, `path`, " +
                  "`caps`, `files`, `tars`, `mode`, `owner` and `mtime` do not go with it. Of a " +
                  "multi-platform base, the image of the target platform (or `platform`).",
            allow_files = True,
            cfg = platform_transition,
        ),
        "replace_caps": attr.bool(
            doc = "With `base`: replace the capabilities a named file of the base already has, instead " +
                  "of failing.",
            default = False,
        ),
        "allow_unsafe_mode": attr.bool(
            doc = "Let a file with capabilities be setuid, setgid or world-writable: a `mode` such as " +
                  "`\"4755\"`, an entry of `tars` with such a mode, or such a file of `base`. Without it the " +
                  "build fails on one: set-ID adds a second privilege to the capabilities, and anyone could " +
                  "replace a world-writable file's contents while its capabilities stay (`capslayer audit` " +
                  "reports such a file, rule `unsafe-mode`). The sticky bit needs no opt-in. This is " +
                  "`capslayer layer --allow-unsafe-mode`.",
            default = False,
        ),
        "_platform": attr.label(
            default = "//rules/private:current_platform",
            cfg = platform_transition,
            providers = [TargetPlatformInfo],
        ),
        "mode": attr.string(
            doc = "Mode of every file, as 3 or 4 octal digits. The kernel honours file capabilities " +
                  "regardless of the mode, but the file must be executable to be run.",
            default = "0755",
        ),
        "owner": attr.string(
            doc = "Numeric `UID:GID` of every file, e.g. `65532:65532` for distroless' nonroot (the parent " +
                  "directories stay `0:0`). Capabilities work whoever owns the file: they are granted to any " +
                  "user that runs it.",
            default = "0:0",
        ),
        "mtime": attr.int(
            doc = "Modification time of every entry, in seconds since the epoch. `SOURCE_DATE_EPOCH` " +
                  "is deliberately not read, so the layer does not depend on the environment.",
            default = 0,
        ),
        "rootid": attr.int(
            doc = "0 (default) writes revision 2 `vfs_cap_data`, valid in every user namespace; this is " +
                  "what images should carry. A non-zero value writes revision 3 with this root uid, which the " +
                  "kernel only honours inside a user namespace whose root maps to it.",
            default = 0,
        ),
        "compression": attr.string(
            doc = "`none` (default, `<name>.tar`), `gzip` (`<name>.tar.gz`) or `zstd` (`<name>.tar.zst`). " +
                  "Compressed layers are reproducible for a given rules_capslayer version only: the digest depends " +
                  "on the compressor, which capslayer pins.",
            default = "none",
            values = sorted(COMPRESSIONS.keys()),
        ),
        "platform": attr.label(
            doc = "Build `binary`, `files` and `tars` for this platform instead of the target platform, e.g. " +
                  "`@rules_go//go/toolchain:linux_arm64` to get an arm64 layer from a host build. " +
                  "The `capslayer` tool itself always runs on the execution platform.",
        ),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    toolchains = [TOOLCHAIN_TYPE],
    provides = [CapsLayerInfo],
)
