// This file is the image reader's API: Source (one image of an input, as a
// go-containerregistry v1.Image), Images (the images of a local input) and
// Scan (the capability files of any v1.Image, read within the limits).

package inspect

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Annotations that name an image in an index.
const (
	AnnotationRefName       = "org.opencontainers.image.ref.name"
	AnnotationContainerName = "io.containerd.image.name"
)

// Source is one image of an OCI layout or docker save tarball, found by
// Images.
type Source struct {
	// Name, Digest and Platform are as in Image.
	Name, Digest, Platform string
	// Image reads the image with go-containerregistry. The Compressed()
	// bytes of its layers are the blobs exactly as stored (never
	// recompressed), so appending them to another image keeps their
	// digests and their PAX records.
	//
	// Any v1.Image works here (a layout, an archive, a registry image from
	// go-containerregistry's remote package): Scan reads it only through
	// the v1.Image interface.
	Image v1.Image
}

// Images lists the images of an OCI image layout directory or oci-archive
// tar (indexes followed recursively; artifacts that are not images are
// skipped) or of a docker/podman save tarball, and returns the input's kind.
func Images(p string, opts ...tarfs.Option) (_ string, _ []Source, err error) {
	defer errprefix.Add(&err, "inspect")
	return imagesOf(diskInput(p), tarfs.NewLimits(opts))
}

// ImagesFS is Images for the input named name in fsys (a directory or a
// file, as fs.ValidPath names them): the same reader, on any file system.
// Its files must be regular files that can seek (fstest.MapFS, embed.FS).
func ImagesFS(fsys fs.FS, name string, opts ...tarfs.Option) (_ string, _ []Source, err error) {
	defer errprefix.Add(&err, "inspect")
	return imagesOf(input{fsys, name, name}, tarfs.NewLimits(opts))
}

func imagesOf(in input, o *tarfs.Limits) (string, []Source, error) {
	kind, err := detect(in, o)
	if err != nil {
		return "", nil, err
	}
	if kind == KindLayer {
		return "", nil, fmt.Errorf("%s is a single layer tar, not an image (an OCI layout directory or a docker save tarball)", in.path)
	}
	srcs, _, err := images(in, kind, o)
	return kind, srcs, err
}

// input is what the readers read: the file or directory name of fsys,
// called path in errors. On disk (Path, Images) fsys is a diskFS rooted at
// the input itself and name is ".".
type input struct {
	fsys       fs.FS
	name, path string
}

func diskInput(p string) input { return input{diskFS(p), ".", p} }

// ErrNoImage is wrapped by the errors returned for an input that holds no
// image to read: an index.json that lists no image manifest (or only
// artifacts), a docker save manifest.json that lists none. Such an input
// is an error, never an empty (and so passing) report.
var ErrNoImage = errors.New("no image")

func images(in input, kind string, o *tarfs.Limits) ([]Source, []string, error) {
	var srcs []Source
	var skipped []string
	var err error
	switch kind {
	case KindOCILayout:
		srcs, skipped, err = readLayout(in.path, fsOpener(in.fsys, in.name), o)
	case KindOCIArchive:
		var a *archive
		if a, err = indexArchive(in, o); err == nil {
			srcs, skipped, err = readLayout(in.path, a.opener(), o)
		}
	default:
		srcs, err = readDockerArchive(in, o)
	}
	if err == nil && len(srcs) == 0 {
		what := "its index.json lists no image manifest"
		if len(skipped) > 0 {
			what = "its index.json lists only artifacts that are not images: " + strings.Join(skipped, ", ")
		}
		err = fmt.Errorf("%w: %s holds no image to read: %s", ErrNoImage, in.path, what)
	}
	if err != nil {
		return nil, nil, err
	}
	return srcs, skipped, nil
}

// Scan reads the layers of src.Image bottom-up within the limits of opts,
// checking every blob against its manifest digest and size and its config
// diff ID, and returns the image with its capability files and whether each
// is visible in the final filesystem.
func Scan(src Source, opts ...tarfs.Option) (_ Image, err error) {
	defer errprefix.Add(&err, "inspect")
	ls, err := scan(src.Image, tarfs.NewLimits(opts))
	if err != nil {
		return Image{}, err
	}
	return Image{Name: src.Name, Digest: src.Digest, Platform: src.Platform, Layers: ls}, nil
}

func scan(img v1.Image, o *tarfs.Limits) ([]tarfs.Layer, error) {
	return scanImage(tarfs.NewScanner(nil), img, o)
}

// scanImage replays every layer of img into sc, which has replayed none,
// bottom first, checking each blob against its manifest digest and size
// and its config diff ID, and returns sc's layers (Finish) with their
// digests and media types.
func scanImage(sc *tarfs.Scanner, img v1.Image, o *tarfs.Limits) ([]tarfs.Layer, error) {
	layers, diffIDs, err := imageLayers(img, o)
	if err != nil {
		return nil, err
	}
	sts := make([]tarfs.Stream, len(layers))
	for i, d := range layers {
		entries := sc.Layer()
		st, err := readLayer(img, i, d, diffIDs[i], func(p string, hdr *tar.Header, _ io.Reader) error {
			return entries(p, hdr)
		}, o)
		if err != nil {
			return nil, err
		}
		sts[i] = st
	}
	ls := sc.Finish()
	for i, d := range layers {
		ls[i].Digest, ls[i].DiffID, ls[i].MediaType = sts[i].Digest, sts[i].DiffID, string(d.MediaType)
	}
	return ls, nil
}

// ReadLayer walks layer i (0 = bottom) of img with fn, reading the blob
// as stored within the limits of opts, and checks it against the digest
// and size of its manifest descriptor and the diff ID of the config.
func ReadLayer(img v1.Image, i int, fn tarfs.DataWalkFunc, opts ...tarfs.Option) (_ tarfs.Stream, err error) {
	var fnErr error
	defer func() {
		if err != fnErr {
			errprefix.Add(&err, "inspect")
		}
	}()
	o := tarfs.NewLimits(opts)
	layers, diffIDs, err := imageLayers(img, o)
	if err != nil {
		return tarfs.Stream{}, err
	}
	if i < 0 || i >= len(layers) {
		return tarfs.Stream{}, fmt.Errorf("layer %d: the image has %d layers", i, len(layers))
	}
	st, err := readLayer(img, i, layers[i], diffIDs[i], func(name string, hdr *tar.Header, data io.Reader) error {
		fnErr = fn(name, hdr, data)
		return fnErr
	}, o)
	if err != nil && fnErr != nil && errors.Is(err, fnErr) {
		return st, fnErr
	}
	return st, err
}

// imageLayers returns the layer descriptors of img's manifest and the diff
// IDs of its config, bottom first, checked to agree and to be within the
// limits.
func imageLayers(img v1.Image, o *tarfs.Limits) ([]v1.Descriptor, []v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(m.Layers) != len(diffIDs) {
		return nil, nil, fmt.Errorf("the manifest lists %d layers but the config has %d diff_ids", len(m.Layers), len(diffIDs))
	}
	if len(m.Layers) > o.MaxLayers {
		return nil, nil, fmt.Errorf("%w: more than %d layers", tarfs.ErrLimit, o.MaxLayers)
	}
	for i, d := range m.Layers {
		if err := checkDigest(d.Digest); err != nil {
			return nil, nil, fmt.Errorf("layer %d: %w", i, err)
		}
		if d.Size < 0 {
			return nil, nil, fmt.Errorf("layer %d: negative size %d in its descriptor", i, d.Size)
		}
	}
	return m.Layers, diffIDs, nil
}

// readLayer walks layer i of img, whose manifest descriptor is d and diff
// ID diffID, with fn, reading the blob as stored, and checks that its
// bytes match d's digest and size and diffID. Whatever the source, no more
// and no fewer bytes than the descriptor says are read.
func readLayer(img v1.Image, i int, d v1.Descriptor, diffID v1.Hash, fn tarfs.DataWalkFunc, o *tarfs.Limits) (tarfs.Stream, error) {
	bl, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return tarfs.Stream{}, fmt.Errorf("layer %d: %w", i, err)
	}
	rc, err := bl.Compressed()
	if err != nil {
		return tarfs.Stream{}, fmt.Errorf("layer %d: %w", i, err)
	}
	defer rc.Close()
	st, err := walkData(exactly(rc, d.Size, "blob "+d.Digest.String()), fn, o)
	if err != nil {
		return st, fmt.Errorf("layer %d (%s): %w", i, d.Digest, err)
	}
	if st.Digest != d.Digest.String() || st.DiffID != diffID.String() {
		return st, fmt.Errorf("layer %d: blob has digest %s and diff ID %s but the image says %s and %s: the image is corrupt or was tampered with",
			i, st.Digest, st.DiffID, d.Digest, diffID)
	}
	return st, nil
}

// walkData is tarfs.WalkData for this package's readers, which wrap its
// errors with their context and then add the "inspect: " prefix that
// tarfs adds too: an error of fn is returned as it is, any other without
// tarfs's prefix.
func walkData(r io.Reader, fn tarfs.DataWalkFunc, o *tarfs.Limits) (tarfs.Stream, error) {
	var fnErr error
	st, err := tarfs.WalkData(r, func(name string, hdr *tar.Header, data io.Reader) error {
		fnErr = fn(name, hdr, data)
		return fnErr
	}, func(x *tarfs.Limits) { *x = *o })
	if err != fnErr {
		err = errprefix.Trim(err, "inspect")
	}
	return st, err
}
