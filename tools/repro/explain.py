#!/usr/bin/env python3
"""Explains how two build outputs differ, down to the tar entry and field.

    explain.py A B

A and B are files or directories (an OCI image layout, a bazel-bin tree).
Exit status 0 when they are byte-identical, 1 when they differ (the report
on stdout says where), 2 on bad usage.

Directories are compared file by file (names, symlink targets, modes are
ignored: they are the file system's, not the output's). A differing file is
explained by its content:
  * a tar (plain, gzip or zstd; OCI layers, docker archives): entry by entry,
    every header field, every PAX record (SCHILY.xattr.security.capability
    shown in hex) and the content digest; a differing entry that is itself a
    tar (a layer inside a docker archive) is explained recursively; when
    every field agrees but the bytes do not, the first differing header
    block is named; for compressed tars whose tar streams agree, the
    compressor is blamed;
  * JSON (descriptors, manifests, configs, index.json): a unified diff of
    the pretty-printed documents;
  * anything else: the first differing byte offset and the sizes.

Hand-written instead of diffoscope (not installed on CI, and several
hundred MiB of dependencies) with only the Python standard library; zstd
is decompressed with the zstd command.
"""

import difflib
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

# Stop after this many differences per tar: the first ones explain the rest.
MAX_ENTRY_DIFFS = 10


def decompress(data):
    """Returns (kind, bytes): the compression and the decompressed bytes."""
    if data[:2] == b"\x1f\x8b":
        return "gzip", gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        out = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True)
        return "zstd", out.stdout
    return "none", data


def is_tar(data):
    # ustar magic at offset 257 ("ustar\0" POSIX, "ustar " GNU).
    return len(data) >= 512 and data[257:262] == b"ustar"


def is_json(data):
    try:
        json.loads(data)
        return True
    except (ValueError, UnicodeDecodeError):
        return False


def fmt(value):
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)


def entries(data):
    """The entries of a tar as (name, fields, content) in archive order."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for m in tf:
            content = b""
            if m.isfile():
                content = tf.extractfile(m).read()
            pax = {}
            for k, v in sorted(m.pax_headers.items()):
                # tarfile decodes xattr values as UTF-8 with surrogateescape;
                # the capability bytes read best in hex.
                if k.startswith("SCHILY.xattr."):
                    v = v.encode("utf-8", "surrogateescape")
                pax[k] = v
            fields = {
                "type": m.type,
                "mode": oct(m.mode),
                "uid": m.uid,
                "gid": m.gid,
                "uname": m.uname,
                "gname": m.gname,
                "size": m.size,
                "mtime": m.mtime,
                "linkname": m.linkname,
                "devmajor": m.devmajor,
                "devminor": m.devminor,
                "pax": pax,
                "content sha256": hashlib.sha256(content).hexdigest(),
            }
            out.append((m.name, fields, content, m.offset))
    return out


def explain_tar(where, a, b, depth=0):
    """Prints how the tar streams a and b differ; returns True if they do."""
    ea, eb = entries(a), entries(b)
    names_a = [e[0] for e in ea]
    names_b = [e[0] for e in eb]
    found = 0
    if names_a != names_b:
        found += 1
        print(f"{where}: the entry lists differ ({len(names_a)} vs {len(names_b)} entries):")
        for line in difflib.unified_diff(names_a, names_b, "A", "B", lineterm="", n=1):
            print("    " + line)
    by_name_b = {e[0]: e for e in eb}
    if names_a != names_b:
        ca = {e[0]: e[2] for e in ea}
        cb = {e[0]: e[2] for e in eb}
        pairs = oci_pairs(ca.get, cb.get)
        if pairs:
            explain_pairs(f"{where} > ", pairs, ca.get, cb.get, depth + 1)
    for name, fa, ca, off_a in ea:
        if name not in by_name_b:
            continue
        _, fb, cb, _ = by_name_b[name]
        for field in fa:
            if field == "pax":
                keys = sorted(set(fa["pax"]) | set(fb["pax"]))
                for k in keys:
                    va, vb = fa["pax"].get(k), fb["pax"].get(k)
                    if va != vb:
                        found += 1
                        print(f"{where}: entry {name}: PAX record {k}: A={fmt(va)} B={fmt(vb)}")
            elif fa[field] != fb[field]:
                found += 1
                print(f"{where}: entry {name}: {field}: A={fmt(fa[field])} B={fmt(fb[field])}")
        if ca != cb and depth < 3:
            explain_content(f"{where} > {name}", ca, cb, depth + 1)
        if found >= MAX_ENTRY_DIFFS:
            print(f"{where}: (stopping after {found} differences)")
            return True
    if found:
        return True
    if a != b:
        # Same entries and fields, different bytes: header encoding (PAX
        # record order, ustar vs GNU fields, padding, end-of-archive blocks).
        i = first_difference(a, b)
        block = i // 512 * 512
        owner = "the end-of-archive blocks or padding"
        for name, _, _, off in ea:
            if off <= block:
                owner = f"the header or data of entry {name} (header at offset {off})"
        print(f"{where}: every entry and field agrees, but the bytes differ at offset {i} "
              f"(512-byte block at {block}), in {owner}; sizes {len(a)} and {len(b)}")
        return True
    return False


def first_difference(a, b):
    n = min(len(a), len(b))
    for i in range(0, n, 4096):
        if a[i:i + 4096] != b[i:i + 4096]:
            for j in range(i, min(i + 4096, n)):
                if a[j] != b[j]:
                    return j
    return n


def explain_content(where, a, b, depth=0):
    """Prints why the contents a and b differ. Returns True if they do."""
    if a == b:
        return False
    ka, da = decompress(a)
    kb, db = decompress(b)
    if ka != kb:
        print(f"{where}: compression differs: A is {ka}, B is {kb}")
    if is_tar(da) and is_tar(db):
        if da == db:
            print(f"{where}: the tar streams are identical; the {ka} compressed bytes differ "
                  f"(offset {first_difference(a, b)}): the compressor is not deterministic")
            return True
        prefix = where if ka == "none" else f"{where} ({ka})"
        return explain_tar(prefix, da, db, depth)
    if is_json(da) and is_json(db):
        pa = json.dumps(json.loads(da), indent=2, sort_keys=True).splitlines()
        pb = json.dumps(json.loads(db), indent=2, sort_keys=True).splitlines()
        print(f"{where}: JSON differs:")
        diff = list(difflib.unified_diff(pa, pb, "A", "B", lineterm="", n=2))
        if not diff:
            print("    (same document, different formatting or key order)")
        for line in diff[:60]:
            print("    " + line)
        return True
    i = first_difference(da, db)
    print(f"{where}: contents differ at byte {i}; sizes {len(da)} and {len(db)}")
    return True


def blob_path(digest):
    algo, _, hexd = digest.partition(":")
    return f"blobs/{algo}/{hexd}"


def oci_pairs(get_a, get_b):
    """Pairs the content-addressed files of two images by their role.

    An OCI layout (index.json) or a docker archive (manifest.json) names its
    blobs by digest, so two differing images have no file name in common
    for what differs; walk both from the top and pair the manifests,
    configs and layers at the same place. get_a and get_b map a path to its
    bytes, or None. Returns [(role, path_a, path_b)].
    """
    pairs = []

    def descend(role, da, db):
        pa, pb = blob_path(da["digest"]), blob_path(db["digest"])
        pairs.append((role, pa, pb))
        if "manifest" not in da.get("mediaType", "") and "index" not in da.get("mediaType", ""):
            return
        ba, bb = get_a(pa), get_b(pb)
        if ba is None or bb is None or not is_json(ba) or not is_json(bb):
            return
        ja, jb = json.loads(ba), json.loads(bb)
        for i, (ma, mb) in enumerate(zip(ja.get("manifests", []), jb.get("manifests", []))):
            descend(f"{role}.manifests[{i}]", ma, mb)
        if "config" in ja and "config" in jb:
            descend(f"{role}.config", ja["config"], jb["config"])
        for i, (la, lb) in enumerate(zip(ja.get("layers", []), jb.get("layers", []))):
            descend(f"{role}.layers[{i}]", la, lb)

    ia, ib = get_a("index.json"), get_b("index.json")
    if ia is not None and ib is not None and is_json(ia) and is_json(ib):
        ja, jb = json.loads(ia), json.loads(ib)
        for i, (ma, mb) in enumerate(zip(ja.get("manifests", []), jb.get("manifests", []))):
            descend(f"index.json.manifests[{i}]", ma, mb)
    ma, mb = get_a("manifest.json"), get_b("manifest.json")
    if ma is not None and mb is not None and is_json(ma) and is_json(mb):
        ja, jb = json.loads(ma), json.loads(mb)
        if isinstance(ja, list) and isinstance(jb, list):
            for i, (ea, eb) in enumerate(zip(ja, jb)):
                if "Config" in ea and "Config" in eb:
                    pairs.append((f"manifest.json[{i}].Config", ea["Config"], eb["Config"]))
                for j, (la, lb) in enumerate(zip(ea.get("Layers", []), eb.get("Layers", []))):
                    pairs.append((f"manifest.json[{i}].Layers[{j}]", la, lb))
    return [(r, a, b) for r, a, b in pairs if a != b]


def explain_pairs(where, pairs, get_a, get_b, depth):
    """Explains each pair of differently named blobs; returns the paths used."""
    used_a, used_b = set(), set()
    for role, pa, pb in pairs:
        ba, bb = get_a(pa), get_b(pb)
        if ba is None or bb is None:
            continue
        used_a.add(pa)
        used_b.add(pb)
        explain_content(f"{where}{role} ({pa} vs {pb})", ba, bb, depth)
    return used_a, used_b


def read(path):
    with open(path, "rb") as f:
        return f.read()


def walk(root):
    """Relative paths of the files under root, following no symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = p
    return out


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    a, b = argv[1], argv[2]
    for p in (a, b):
        if not os.path.exists(p):
            print(f"explain.py: {p} does not exist", file=sys.stderr)
            return 2
    if os.path.isdir(a) != os.path.isdir(b):
        print(f"{a} and {b}: one is a directory, the other is not")
        return 1
    if not os.path.isdir(a):
        return 1 if explain_content(os.path.basename(a), read(a), read(b)) else 0
    fa, fb = walk(a), walk(b)
    differ = False
    only_a, only_b = set(fa) - set(fb), set(fb) - set(fa)
    # OCI image layouts anywhere in the trees: pair their blobs by role.
    for rel in sorted(fa):
        if os.path.basename(rel) != "oci-layout" or rel not in fb:
            continue
        top = os.path.dirname(rel)

        def getter(files):
            def get(p):
                q = os.path.normpath(os.path.join(top, p))
                return read(files[q]) if q in files else None
            return get

        pairs = oci_pairs(getter(fa), getter(fb))
        if pairs:
            differ = True
            used_a, used_b = explain_pairs(f"{top}: " if top else "", pairs, getter(fa), getter(fb), 0)
            only_a -= {os.path.normpath(os.path.join(top, p)) for p in used_a}
            only_b -= {os.path.normpath(os.path.join(top, p)) for p in used_b}
    for rel in sorted(only_a):
        print(f"{rel}: only in A")
        differ = True
    for rel in sorted(only_b):
        print(f"{rel}: only in B")
        differ = True
    for rel in sorted(set(fa) & set(fb)):
        if explain_content(rel, read(fa[rel]), read(fb[rel])):
            differ = True
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
