// Package inspect is capslayer's image reader: it reads a layer tar, an OCI
// image layout (a directory or an oci-archive tar), a docker/podman save
// tarball or any go-containerregistry v1.Image, and lists the files that
// carry Linux file capabilities.
//
// The files of the package are named for their roles: detect.go (which kind
// of input), layout.go (OCI layouts), tararchive.go and dockerarchive.go
// (tarballs), blobimage.go (blobs as a v1.Image), source.go (Images and
// Scan: the API other readers, such as a registry, build on), walk.go and
// decompress.go (one layer stream), inspect.go (Open, Path and the report).
// Package source builds on it to read any input, registry references
// included, with the image's capability metadata verified.
//
// A file capability is the security.capability extended attribute that
// setcap(8) sets. In a layer tar it travels as the PAX record
// SCHILY.xattr.security.capability (GNU tar, Go's archive/tar, libarchive);
// libarchive also writes LIBARCHIVE.xattr.security.capability with a base64
// value, which is read when the SCHILY record is absent.
//
// For images, inspect follows the layers from the bottom up and reports for
// each file whether it is still visible in the final filesystem or which
// later layer overwrote or whited it out (.wh.<name>, .wh..wh..opq, or a
// parent replaced by a non-directory), because a capability buried under a
// whiteout is not granted at run time but is still shipped in the image.
//
// The input is treated as hostile. Layers are streamed, never buffered;
// entry names that escape the root ("../x") are errors; the number of
// entries, the decompressed size of a layer, the size of JSON documents and
// the nesting of image indexes are capped (see Option); the digest and diff
// ID of every layer are checked against the manifest and config, so a
// tampered blob is reported instead of silently inspected.
package inspect
