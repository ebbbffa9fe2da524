#!/usr/bin/env python3
"""Compares a tar with its copy by caps_layer(tars = ...), entry by entry.

Usage: tarrewrite.py IN OUT
Both tars are uncompressed. Prints one line per entry of OUT, in order:

    NAME header=H fields=F data=D pax=P caps=C

H is "same" when the entry's header blocks (its PAX extended header, if
any, and its ustar header) are the input's byte for byte, else "differs";
F compares name, type, mode, uid, gid, uname, gname, size, mtime and link
target; D the entry's data bytes; P the PAX records other than
SCHILY.xattr.security.capability; C is the hex of that record in OUT ("-"
for none). An entry of OUT that is not at the same place in IN prints
"NAME missing-in-input"; an entry of IN that OUT lacks, "NAME
missing-in-output". Independent of capslayer: Python's tarfile reads both.
"""

import sys
import tarfile

KEY = "SCHILY.xattr.security.capability"
FIELDS = ("name", "type", "mode", "uid", "gid", "uname", "gname", "size", "mtime", "linkname")


def entries(path):
    with open(path, "rb") as f:
        data = f.read()
    with tarfile.open(path, mode="r:") as tar:
        members = tar.getmembers()
    return data, members


def same(a, b):
    return "same" if a == b else "differs"


def main():
    din, min_ = entries(sys.argv[1])
    dout, mout = entries(sys.argv[2])
    for i, o in enumerate(mout):
        if i >= len(min_) or min_[i].name != o.name:
            print(o.name, "missing-in-input")
            continue
        n = min_[i]
        header = same(din[n.offset : n.offset_data], dout[o.offset : o.offset_data])
        fields = same([getattr(n, f) for f in FIELDS], [getattr(o, f) for f in FIELDS])
        data = same(din[n.offset_data : n.offset_data + n.size], dout[o.offset_data : o.offset_data + o.size])
        pax = same({k: v for k, v in n.pax_headers.items() if k != KEY}, {k: v for k, v in o.pax_headers.items() if k != KEY})
        raw = o.pax_headers.get(KEY)
        # tarfile decodes PAX values as UTF-8 with surrogateescape.
        caps = raw.encode("utf-8", "surrogateescape").hex() if raw is not None else "-"
        print(o.name, "header=" + header, "fields=" + fields, "data=" + data, "pax=" + pax, "caps=" + caps)
    for n in min_[len(mout) :]:
        print(n.name, "missing-in-output")


if __name__ == "__main__":
    main()
