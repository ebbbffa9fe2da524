// This file is the image reader's API: Source (one image of an input, as a
// go-containerregistry v1.Image), Images (the images of a local input) and
// Scan (the capability files of any v1.Image, read within the limits).

package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
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
func Images(p string, opts ...Option) (_ string, _ []Source, err error) {
	defer errprefix.Add(&err, "inspect")
	return imagesOf(diskInput(p), makeOptions(opts))
}

// ImagesFS is Images for the input named name in fsys (a directory or a
// file, as fs.ValidPath names them): the same reader, on any file system.
// Its files must be regular files that can seek (fstest.MapFS, embed.FS).
func ImagesFS(fsys fs.FS, name string, opts ...Option) (_ string, _ []Source, err error) {
	defer errprefix.Add(&err, "inspect")
	return imagesOf(input{fsys, name, name}, makeOptions(opts))
}

func imagesOf(in input, o *options) (string, []Source, error) {
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

func images(in input, kind string, o *options) ([]Source, []string, error) {
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
func Scan(src Source, opts ...Option) (_ Image, err error) {
	defer errprefix.Add(&err, "inspect")
	ls, err := scan(src.Image, makeOptions(opts))
	if err != nil {
		return Image{}, err
	}
	return Image{Name: src.Name, Digest: src.Digest, Platform: src.Platform, Layers: ls}, nil
}

func scan(img v1.Image, o *options) ([]Layer, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(m.Layers) != len(diffIDs) {
		return nil, fmt.Errorf("the manifest lists %d layers but the config has %d diff_ids", len(m.Layers), len(diffIDs))
	}
	if len(m.Layers) > o.maxLayers {
		return nil, fmt.Errorf("%w: more than %d layers", ErrLimit, o.maxLayers)
	}
	s := newImageScan()
	for i, d := range m.Layers {
		if err := checkDigest(d.Digest); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		bl, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("layer %d: negative size %d in its descriptor", i, d.Size)
		}
		rc, err := bl.Compressed()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		// Whatever the source, no more and no fewer bytes than the
		// descriptor says are read.
		err = s.layer(exactly(rc, d.Size, "blob "+d.Digest.String()), i, o)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, d.Digest, err)
		}
		if l := s.layers[i]; l.Digest != d.Digest.String() || l.DiffID != diffIDs[i].String() {
			return nil, fmt.Errorf("layer %d: blob has digest %s and diff ID %s but the image says %s and %s: the image is corrupt or was tampered with",
				i, s.layers[i].Digest, s.layers[i].DiffID, d.Digest, diffIDs[i])
		}
		s.layers[i].MediaType = string(d.MediaType)
	}
	return s.finish(), nil
}
