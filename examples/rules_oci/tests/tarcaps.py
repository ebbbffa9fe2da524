#!/usr/bin/env python3
"""Lists a tar's entries with their file capability, read with Python's tarfile.

Usage: tarcaps.py FILE
Prints one line per entry: NAME TYPE CAPS, where TYPE is f (regular file),
d (directory) or the tarfile type character, and CAPS is the hex of the
entry's SCHILY.xattr.security.capability PAX record, or "-". The input may be
plain, gzip or zstd (by its first bytes; zstd through the zstd command).
Independent of capslayer: it is the reader the tests trust.
"""

import io
import subprocess
import sys
import tarfile

KEY = "SCHILY.xattr.security.capability"


def open_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        import gzip

        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return data


def main():
    data = open_bytes(sys.argv[1])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            kind = "f" if m.isreg() else "d" if m.isdir() else m.type.decode()
            raw = m.pax_headers.get(KEY)
            # tarfile decodes PAX values as UTF-8 with surrogateescape.
            caps = raw.encode("utf-8", "surrogateescape").hex() if raw is not None else "-"
            print(m.name, kind, caps)


if __name__ == "__main__":
    main()
