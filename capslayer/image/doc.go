// Package image assembles reproducible OCI images from a base image and layer
// tars, and writes them as an OCI image layout and, on request, as a
// docker/podman load tarball.
//
// Layers are added unchanged: the blob of a --layer file is its exact bytes
// (an uncompressed .tar stays an uncompressed application/vnd.oci.image.layer.v1.tar
// blob, a .tar.gz or .tar.zst keeps its compressed bytes), so the PAX record
// that carries a file capability survives and the layer digest is
// sha256(file). go-containerregistry's tarball.LayerFromOpener would gzip an
// uncompressed tar again; this package implements v1.Layer over the file
// instead. Base layers are also kept byte for byte.
//
// The output depends only on the inputs: the config's created time is fixed
// (the Unix epoch, or SOURCE_DATE_EPOCH, or an explicit time), history
// entries name the layer's contents rather than host paths, and no author,
// host name or user leaks in; the same inputs give the same manifest digest.
package image
