"""Pure checks of caps_layer attribute values.

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

_OCTAL = "01234567"
_DIGITS = "0123456789"

# Largest uid, gid or rootid a tar header and the kernel accept: uid_t is 32
# bits, and (uid_t)-1 means "no id".
_MAX_ID = 4294967294

def check_path(attr, path):
    """Checks a destination path inside the image.

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
    for segment in path[1:].split("/"):
        if segment in ("", ".", ".."):
            return "'%s' must be a clean path without \"//\", \".\" or \"..\" segments, got \"%s\"" % (attr, path)
    if "\n" in path:
        return "'%s' must be one line, got %r" % (attr, path)
    return None

def check_files_dest(dest):
    """Checks a destination given in `files`.

    Args:
      dest: e.g. "/usr/bin/tcpdump".

    Returns:
      None, or the problem and its fix.
    """
    problem = check_path("files", dest)
    if problem:
        return problem
    if "=" in dest:
        # capslayer's --file DEST=SRC[:CAPS] ends DEST at the first '='.
        return "'files' destination \"%s\" contains \"=\", which capslayer --file cannot carry; rename the file" % dest
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

def check_compression(compression):
    """Checks a compression name.

    Args:
      compression: "none", "gzip" or "zstd".

    Returns:
      None, or the problem and its fix.
    """
    if compression not in COMPRESSIONS:
        return "'compression' must be one of \"none\", \"gzip\", \"zstd\", got \"%s\"" % compression
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
