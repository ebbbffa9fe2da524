"""Pure checks of caps_layer and caps_image attribute values.

Each function returns None when the value is fine and otherwise the text of the
problem and of its fix, without the target label, so that the rule can prefix
the label and unit tests can pin the exact text. The `capslayer` CLI checks the
same things again; checking here too fails at analysis, before anything is
built, with the attribute name in the message.
"""

COMPRESSIONS = {
    "gzip": struct(extension = ".tar.gz", media_type = "application/vnd.oci.image.layer.v1.tar+gzip"),
    "none": struct(extension = ".tar", media_type = "application/vnd.oci.image.layer.v1.tar"),
    "zstd": struct(extension = ".tar.zst", media_type = "application/vnd.oci.image.layer.v1.tar+zstd"),
}

# The layer file extensions rules_oci's oci_image(tars) accepts, for attributes
# that take layer tars; the CLI sniffs the compression from the bytes, not from
# the name.
LAYER_EXTENSIONS = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"]

_OCTAL = "01234567"
_DIGITS = "0123456789"

# Largest uid, gid or rootid a tar header and the kernel accept: uid_t is 32
# bits, and (uid_t)-1 means "no id".
_MAX_ID = 4294967294

# Limits of a path in a layer, in bytes, as capslayer's layer.CheckPath has
# them: PATH_MAX 4096 with its NUL, NAME_MAX 255.
_MAX_PATH_LEN = 4095
_MAX_COMPONENT_LEN = 255

# The ASCII control characters (C0 and DEL). Bazel strings hold UTF-8 bytes,
# so a multi-byte character never contains one of these bytes.
_CONTROL = "\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017" + \
           "\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037\177"

def check_path(attr, path):
    """Checks a destination path inside the image: a subset of the CLI's rules.

    `capslayer` (`layer.CheckPath`) is the authority and checks every path
    again when the action runs. This checks at analysis what is cheap in
    Starlark, with the same verdicts: absolute, clean, not `/`, no trailing
    `/`, at most 4095 bytes with names of at most 255, no ASCII control
    character, no component starting with `.wh.` (a whiteout). Left to the
    CLI: invalid UTF-8 and non-ASCII characters that are not printable
    (format characters such as U+200E). It never refuses a path the CLI
    accepts.

    Args:
      attr: the attribute name, for the message (e.g. `path` or `files`).
      path: the destination, e.g. "/app/server".

    Returns:
      None, or the problem and its fix.
    """
    if not path:
        return "'%s' is empty; give the absolute destination inside the image, e.g. \"/app/server\"" % attr
    if not path.startswith("/"):
        return "'%s' must be absolute, got \"%s\"; write \"/%s\"" % (attr, path, path)
    if path == "/":
        return "'%s' is \"/\", which is a directory; give a file path such as \"/app/server\"" % attr
    if path.endswith("/"):
        return "'%s' must name a file, got \"%s\" with a trailing \"/\"; write \"%s\"" % (attr, path, path.rstrip("/"))
    if "\n" in path:
        return "'%s' must be one line, got %r" % (attr, path)
    for i, c in enumerate(path.elems()):
        if c in _CONTROL:
            return "'%s' contains a control character at byte %d, got %r: file names in layers must be printable; rename the file" % (attr, i, path)
    if len(path) > _MAX_PATH_LEN:
        return "'%s' is %d bytes long; Linux, GNU tar and capslayer take paths of at most %d bytes" % (attr, len(path), _MAX_PATH_LEN)
    for segment in path[1:].split("/"):
        if segment in ("", ".", ".."):
            return "'%s' must be a clean path without \"//\", \".\" or \"..\" segments, got \"%s\"" % (attr, path)
        if len(segment) > _MAX_COMPONENT_LEN:
            return "'%s' has a name of %d bytes in \"%s...\"; Linux, GNU tar and capslayer take names of at most %d bytes between slashes" % (attr, len(segment), path[:64], _MAX_COMPONENT_LEN)
        if segment.startswith(".wh."):
            return "'%s' has the whiteout name \"%s\" in \"%s\": in a layer a name starting with \".wh.\" deletes a file of the layers below instead of being a file, so runtimes would never create it; rename it" % (attr, segment, path)
    return None

def check_files_dest(dest):
    """Checks a destination given in `files`.

    Args:
      dest: e.g. "/usr/bin/tcpdump".

    Returns:
      None, or the problem and its fix.
    """
    return _check_flag_path("files", "destination", dest, "--file", "; rename the file")

def _check_flag_path(attr, noun, path, flag, fix):
    """Checks a path that a capslayer flag carries up to its first '='.

    `--file DEST=SRC[:CAPS]` and `--set PATH=CAPS` end the path at the first
    '=', so a path holding one cannot be given.

    Args:
      attr: the attribute name, for the message.
      noun: what the path is in that attribute, e.g. "destination".
      path: the path.
      flag: the flag that carries it, e.g. "--file".
      fix: what to add to the problem with '=' ("" for nothing).

    Returns:
      None, or the problem and its fix.
    """
    problem = check_path(attr, path)
    if problem:
        return problem
    if "=" in path:
        return "'%s' %s \"%s\" contains \"=\", which capslayer %s cannot carry%s" % (attr, noun, path, flag, fix)
    return None

def check_mode(mode):
    """Checks a file mode given as an octal string.

    Args:
      mode: e.g. "0755" or "755".

    Returns:
      None, or the problem and its fix.
    """
    if not mode or len(mode) > 4 or [c for c in mode.elems() if c not in _OCTAL]:
        return "'mode' must be 3 or 4 octal digits such as \"0755\", got \"%s\"" % mode
    if len(mode) < 3:
        return "'mode' must be 3 or 4 octal digits such as \"0755\", got \"%s\"" % mode
    return None

def _is_id(s):
    if not s or len(s) > 10 or [c for c in s.elems() if c not in _DIGITS]:
        return False
    return int(s) <= _MAX_ID

def check_owner(owner):
    """Checks an owner given as "UID:GID".

    Args:
      owner: e.g. "0:0" or "65532:65532".

    Returns:
      None, or the problem and its fix.
    """
    parts = owner.split(":")
    if len(parts) != 2 or not _is_id(parts[0]) or not _is_id(parts[1]):
        return "'owner' must be numeric \"UID:GID\" such as \"65532:65532\", got \"%s\" (user names are not resolved: images have no host /etc/passwd)" % owner
    return None

def check_int(attr, value, maximum):
    """Checks a non-negative integer attribute.

    Args:
      attr: the attribute name, for the message.
      value: the value.
      maximum: the largest accepted value.

    Returns:
      None, or the problem and its fix.
    """
    if value < 0 or value > maximum:
        return "'%s' must be between 0 and %d, got %d" % (attr, maximum, value)
    return None

def check_caps(attr, caps):
    """Checks the cheap part of a capability text; the CLI parses the rest.

    Args:
      attr: the attribute name, for the message.
      caps: e.g. "cap_net_bind_service=ep".

    Returns:
      None, or the problem and its fix.
    """
    if not caps.strip():
        return "'%s' is empty; give capabilities as setcap does, e.g. \"cap_net_bind_service=ep\"" % attr
    if "\n" in caps:
        return "'%s' must be one line, got %r" % (attr, caps)
    return None

def check_layout(path, file_paths, file_caps):
    """Checks that destinations are unique and every `file_caps` key has a file.

    Args:
      path: the destination of `binary`, or "" when there is no `binary`.
      file_paths: the destinations given in `files`, in attribute order.
      file_caps: the `file_caps` dict.

    Returns:
      None, or the problem and its fix.
    """
    seen = {path: "path"} if path else {}
    for p in file_paths:
        if p in seen and seen[p] == "path":
            return "destination \"%s\" is given twice (in 'path' and in 'files'); each path in the layer holds one file" % p
        if p in seen:
            return "destination \"%s\" is given to two targets in 'files'; each path in the layer holds one file" % p
        seen[p] = "files"
    for p in sorted(file_caps.keys()):
        if p == path:
            return "'file_caps' has \"%s\", the destination of 'binary'; give its capabilities in 'caps' instead" % p
        if p not in seen:
            known = sorted([k for k in seen.keys() if seen[k] == "files"])
            return "'file_caps' has \"%s\", which is not a destination in 'files' (%s); add the file to 'files' or fix the path" % (
                p,
                ", ".join(["\"%s\"" % k for k in known]) or "none given",
            )
    return None

def check_copy_up(conflicting, file_caps):
    """Checks the attributes of a caps_layer that copies files up from `base`.

    Args:
      conflicting: the names of the attributes set that do not go with
        `base`, in attribute order: any of `binary`, `path`, `caps`, `files`,
        `tars`, and `mode`, `owner`, `mtime` when not at their defaults.
      file_caps: the `file_caps` dict: path in the base image to capability
        text.

    Returns:
      None, or the problem and its fix.
    """
    for attr in conflicting:
        if attr == "caps":
            return "'caps' is for 'binary', which does not go with 'base'; give the capabilities of the base's files by path in 'file_caps', e.g. file_caps = {\"/usr/sbin/nginx\": \"cap_net_bind_service=ep\"}"
        if attr in ("mode", "owner", "mtime"):
            return "'%s' does not go with 'base': the copied files keep the base image's modes, owners and mtimes" % attr
        return "'%s' does not go with 'base': the layer is a copy-up of the base's files 'file_caps' names; put other files in a caps_layer of their own" % attr
    if not file_caps:
        return "'base' needs 'file_caps' to name the files of the base image to give capabilities, e.g. file_caps = {\"/usr/sbin/nginx\": \"cap_net_bind_service=ep\"}"
    for path in sorted(file_caps.keys()):
        problem = _check_flag_path("file_caps", "path", path, "--set", "")
        if problem:
            return problem
    return None

def check_tar_rewrite(conflicting, file_caps):
    """Checks the attributes of a caps_layer that sets capabilities in `tars`.

    Args:
      conflicting: the names of the attributes set that do not go with
        `tars`, in attribute order: any of `binary`, `path`, `caps`, `files`,
        and `mode`, `owner`, `mtime` when not at their defaults.
      file_caps: the `file_caps` dict: path in the tar to capability text.

    Returns:
      None, or the problem and its fix.
    """
    for attr in conflicting:
        if attr == "caps":
            return "'caps' is for 'binary', which does not go with 'tars'; give the capabilities of the tar's files by path in 'file_caps', e.g. file_caps = {\"/bin/ping\": \"cap_net_raw=p\"}"
        if attr in ("mode", "owner", "mtime"):
            return "'%s' does not go with 'tars': the tar's entries keep their own modes, owners and mtimes" % attr
        return "'%s' does not go with 'tars': the layer is the tar with capabilities set on the files 'file_caps' names; put other files in a caps_layer of their own" % attr
    if not file_caps:
        return "'tars' needs 'file_caps' to name the files of the tar to give capabilities, e.g. file_caps = {\"/bin/ping\": \"cap_net_raw=p\"}"
    for path in sorted(file_caps.keys()):
        problem = _check_flag_path("file_caps", "path", path, "--set", "")
        if problem:
            return problem
    return None

def check_tar_count(files):
    """Checks that `tars` gives exactly one tar.

    Args:
      files: the Files the `tars` targets give, in order.

    Returns:
      None, or the problem and its fix.
    """
    if len(files) == 1:
        return None
    return "'tars' gives %d files (%s); caps_layer sets capabilities in one tar: give the other tars to the image as layers of their own (oci_image(tars = ...), caps_image(layers = ...)), or merge them first with pkg_tar(deps = ...)" % (
        len(files),
        ", ".join([f.short_path for f in files[:5]]) + (", ..." if len(files) > 5 else "") if files else "none",
    )

# Checks of caps_image attributes.

_TAG_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
_REPO_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_.-/:"

def check_tag(tag):
    """Checks an image name given as `NAME:TAG`.

    Only the shape is checked here; capslayer parses the name fully.

    Args:
      tag: e.g. "example.com/app:v1".

    Returns:
      None, or the problem and its fix.
    """
    if "@" in tag:
        return "'tag' must be NAME:TAG, not a digest reference, got \"%s\"" % tag
    slash = tag.rfind("/")
    colon = tag.rfind(":")
    if colon <= slash:
        return "'tag' must be NAME:TAG such as \"example.com/app:v1\", got \"%s\" (no \":TAG\" after the last \"/\")" % tag
    repo, version = tag[:colon], tag[colon + 1:]
    if not repo or [c for c in repo.elems() if c not in _REPO_CHARS]:
        return "'tag' NAME \"%s\" must be lower case letters, digits and . _ - / (and :PORT after a registry host), got \"%s\"" % (repo, tag)
    if not version or len(version) > 128 or version[0] in ".-" or [c for c in version.elems() if c not in _TAG_CHARS]:
        return "'tag' TAG \"%s\" must be 1 to 128 letters, digits, _ . - not starting with . or -, got \"%s\"" % (version, tag)
    return None

def default_tag(label):
    """The tag of an image whose `tag` attribute is empty: `bazel/<package>:<name>`.

    Args:
      label: the caps_image's label.

    Returns:
      The tag, lower-cased; check it with check_tag.
    """
    package = label.package or "root"
    return ("bazel/%s:%s" % (package, label.name)).lower()

def check_port(port):
    """Checks an exposed port such as "80/tcp".

    Args:
      port: the value from `exposed_ports`.

    Returns:
      None, or the problem and its fix.
    """
    number, slash, proto = port.partition("/")
    if (not number or len(number) > 5 or [c for c in number.elems() if c not in _DIGITS] or
        int(number) < 1 or int(number) > 65535 or (slash and proto not in ("tcp", "udp", "sctp"))):
        return "'exposed_ports' entry \"%s\" must be PORT or PORT/PROTO with PORT 1-65535 and PROTO tcp, udp or sctp, e.g. \"80/tcp\"" % port
    return None

def check_key_values(attr, values):
    """Checks the keys of `env` or `labels`.

    Args:
      attr: the attribute name, for the message.
      values: the dict.

    Returns:
      None, or the problem and its fix.
    """
    for key in values.keys():
        if not key or "=" in key or "\n" in key:
            return "'%s' key \"%s\" must be non-empty and contain neither \"=\" nor a newline" % (attr, key)
    return None

def check_platform(os, architecture, variant):
    """Checks the platform attributes.

    Args:
      os: e.g. "linux".
      architecture: e.g. "arm64", or "" to take the base's.
      variant: e.g. "v7", or "".

    Returns:
      None, or the problem and its fix.
    """
    for attr, value in [("os", os), ("architecture", architecture), ("variant", variant)]:
        if "/" in value or " " in value:
            return "'%s' must be one word such as \"linux\", \"arm64\" or \"v7\", got \"%s\"" % (attr, value)
    if variant and not architecture:
        return "'variant' needs 'architecture': set both, e.g. architecture = \"arm\", variant = \"v7\""
    if architecture and not os:
        return "'architecture' needs 'os', e.g. os = \"linux\""
    return None
