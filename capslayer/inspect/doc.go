// Package inspect is capslayer's image reader: it reads a layer tar, an OCI
// image layout (a directory or an oci-archive tar), a docker/podman save
// tarball or any go-containerregistry v1.Image, and reports the files that
// carry Linux file capabilities. The tar entries, the final filesystem and
// the limits are package tarfs's; this package opens the inputs, checks
// them against their manifests and builds the report.
//
// The files of the package are named for their roles: detect.go (which kind
// of input), layout.go (OCI layouts), tararchive.go and dockerarchive.go
// (tarballs), blobimage.go (blobs as a v1.Image), blob.go (digests, sized
// reads and the opener of layout files), source.go (Images, Scan and
// ReadLayer: the API other readers, such as a registry, build on),
// locate.go (Locate: files of an image's final filesystem, top layer first)
// and inspect.go (Path, Open and the report). Package source builds on it
// to read any input, registry references included, with the image's
// capability metadata verified.
//
// For images, inspect follows the layers from the bottom up and reports for
// each file whether it is still visible in the final filesystem or which
// later layer overwrote or whited it out (.wh.<name>, .wh..wh..opq, or a
// parent replaced by a non-directory), because a capability buried under a
// whiteout is not granted at run time but is still shipped in the image.
//
// The input is treated as hostile. Layers are streamed, never buffered;
// the number of entries, the decompressed size of a layer, the size of
// JSON documents and the nesting of image indexes are capped (see
// tarfs.Option; exceeding a cap is an error wrapping tarfs.ErrLimit); the
// digest and diff ID of every layer are checked against the manifest and
// config, so a tampered blob is reported instead of silently inspected.
package inspect
