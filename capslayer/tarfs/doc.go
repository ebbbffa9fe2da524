// Package tarfs is capslayer's model of layer tars and the filesystem they
// build: the one place that says what a tar entry is, where it lands and
// what an image's final filesystem holds. Package inspect's image readers
// and package layer's writers are built on it.
//
// The files of the package are named for their roles: walk.go (Walk and
// WalkData: one layer stream, plain, gzip or zstd, with its digests;
// CleanName; Whiteout; the end-of-archive checks), entry.go (File and
// Layer: the entries that carry a capability), rootfs.go (the final
// filesystem, replayed the way runtimes unpack layers), scanner.go
// (Scanner: the capability files of an image and which are still visible),
// locate.go (Locator: regular files of the final filesystem from the
// layers read top down) and limits.go (the limits and ErrLimit).
//
// A file capability is the security.capability extended attribute that
// setcap(8) sets. In a layer tar it travels as the PAX record
// SCHILY.xattr.security.capability (GNU tar, Go's archive/tar, libarchive);
// libarchive also writes LIBARCHIVE.xattr.security.capability with a base64
// value, which is read when the SCHILY record is absent.
//
// The input is treated as hostile. Layers are streamed, never buffered;
// entry names that escape the root ("../x") are errors; the number of
// entries, the decompressed size of a layer and the symlinks kept are
// capped, and exceeding a cap is an error wrapping ErrLimit. The errors of
// the exported functions start with "inspect: ", as those of the image
// reader, of which this package is the lower half.
package tarfs
