// Package layer writes deterministic OCI image layers (tar archives) whose
// files carry Linux file capabilities.
//
// A layer holds one or more regular files, each at an absolute path inside
// the image, each with its own security.capability extended attribute or
// none. The attribute travels in the tar entry as the PAX record
// SCHILY.xattr.security.capability (the form GNU tar, libarchive, containerd,
// Docker, Podman and umoci read), holding the exact vfs_cap_data bytes the
// kernel stores. Each file's capabilities are one caps.Xattr (parse text
// with caps.Parse); this package encodes it into that value and records the
// same value, as hex and as getcap -n text, in the descriptor.
//
// Rewrite gives capabilities to files of an existing layer tar instead,
// copying every other byte of it.
//
// The archive is reproducible bit for bit: entry order, names, owners, modes
// and times come only from the arguments, never from the host (umask, clock,
// file owners, locale, map order). Parent directories get their own entries
// (root-owned, mode 0755). See docs/layer-format.md for the exact layout.
//
// Write streams: each source file is read once, and the layer digest, the
// diff_id (digest of the uncompressed tar) and the output are produced in the
// same pass, with reading, hashing and writing overlapped, in constant memory.
// WriteFile adds atomic output: a temporary file beside the target, renamed
// into place only when everything succeeded.
package layer
