// Package source is capslayer's one way to read an image input: a layer tar,
// an OCI image layout (a directory or an oci-archive tar), a docker/podman
// save tarball or a registry reference. Open opens the input once and
// resolves its images (manifests, configs, capability metadata) without
// reading a layer; Input.Read reads the capability files. The commands that
// read images (inspect, audit, requirements, admission-policy) are this
// package with flags mapped to Options, so a Go caller gets their
// semantics.
//
// What the files of a report rest on:
//
//   - By default every layer is read (streamed, never written to disk) and
//     checked against its manifest digest and config diff ID, and the
//     capability metadata an image carries about itself (the
//     io.capslayer.capabilities label and layer annotations, see package
//     imagemeta) is verified against what the layers hold: a difference is
//     an error wrapping imagemeta.ErrMismatch. The metadata is a claim to
//     check, never the answer.
//   - Options.LabelOnly is the explicit opt-in to take the files of an image
//     that carries the label from the label alone, without reading its
//     layers (a quick look at a large image). Such an image is marked
//     inspect.Image.LabelOnly, its files print as inspect.FromLabel
//     ("label-unverified"), and package policy never passes it.
//
// An argument is a registry reference only when registry.IsReference says
// so: never when it starts with "/", "./" or "../" or exists on disk, so a
// mistyped path is a "no such file" error and not a network request.
package source

import (
	"fmt"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Options say where and how an input is read.
type Options struct {
	// Registry says how to reach a registry; only registry references use
	// it.
	Registry registry.Options
	// LabelOnly takes the files of every image that carries the
	// io.capslayer.capabilities label from that label, without reading
	// its layers. The images are marked inspect.Image.LabelOnly: not
	// verified. Images without the label are read from their layers.
	LabelOnly bool
	// Limits bound the readers (entries, decompressed bytes, images,
	// layers, index depth); nil means inspect's defaults.
	Limits []tarfs.Option
}

// Input is an input opened by Open: what it is and its images.
type Input struct {
	// Origin is the argument as given and the kind of input: one of
	// inspect's Kind values, or registry.KindRegistry.
	inspect.Origin
	// Images are the images of the input in index order, a tag of an image
	// already listed listed again; none for a layer tar.
	Images []Image
	// Skipped lists the manifests that are not images (attestations,
	// signatures, other artifacts), as "digest (media type)".
	Skipped []string

	local *inspect.Local // nil for a registry reference
	opts  Options
}

// Image is one image of an input: its go-containerregistry view (whose
// Layers() are its layers bottom first), its config and its capability
// metadata as the image states it (parsed, not yet verified).
type Image struct {
	inspect.Source
	Config   *v1.ConfigFile
	Metadata *imagemeta.Metadata
}

// Open opens arg, a local path or a registry reference, once: it tells the
// kind of input, reads the index (or manifest.json, or the registry's
// manifests), and each image's config and capability metadata. No layer is
// read. A registry reference's errors wrap package registry's typed errors.
func Open(arg string, o Options) (*Input, error) {
	if registry.IsReference(arg) {
		srcs, skipped, err := registry.Images(arg, o.Registry)
		if err != nil {
			return nil, err
		}
		in := &Input{Origin: inspect.Origin{Source: arg, Kind: registry.KindRegistry}, Skipped: skipped, opts: o}
		return in, in.resolve(srcs)
	}
	l, err := inspect.Open(arg, o.Limits...)
	if err != nil {
		return nil, err
	}
	return openLocal(l, o)
}

// OpenFS is Open for the local input named name in fsys (a directory or a
// file, as fs.ValidPath names them), as inspect.OpenFS reads it.
func OpenFS(fsys fs.FS, name string, o Options) (*Input, error) {
	l, err := inspect.OpenFS(fsys, name, o.Limits...)
	if err != nil {
		return nil, err
	}
	return openLocal(l, o)
}

func openLocal(l *inspect.Local, o Options) (*Input, error) {
	in := &Input{Origin: l.Origin, Skipped: l.Skipped, local: l, opts: o}
	return in, in.resolve(l.Sources)
}

// resolve reads the config and metadata of every source.
func (in *Input) resolve(srcs []inspect.Source) error {
	for _, src := range srcs {
		cf, err := src.Image.ConfigFile()
		if err != nil {
			return fmt.Errorf("%s: image %s: reading the config: %w", in.Source, in.imageName(src), err)
		}
		md, err := imagemeta.Read(src.Image)
		if err != nil {
			return fmt.Errorf("%s: image %s: %w", in.Source, in.imageName(src), err)
		}
		in.Images = append(in.Images, Image{Source: src, Config: cf, Metadata: md})
	}
	return nil
}

// imageName names an image in errors: its manifest digest for a registry
// image (every platform of a reference has the reference's name), else its
// name.
func (in *Input) imageName(src inspect.Source) string {
	if in.local == nil {
		return src.Digest
	}
	return src.Name
}

// Read reads the capability files of the input: a layer tar's entries, or
// for each image its layers (once per manifest digest), with the image's
// metadata verified against them; with Options.LabelOnly, an image that
// carries the label is taken from it instead and marked LabelOnly. The
// report's images are in.Images, in order.
func (in *Input) Read() (*inspect.Report, error) {
	if in.local != nil && in.Kind == inspect.KindLayer {
		return in.local.Report()
	}
	rep := &inspect.Report{Origin: in.Origin, Skipped: in.Skipped}
	done := map[string]inspect.Image{}
	for _, img := range in.Images {
		im, ok := done[img.Digest]
		if !ok {
			var err error
			if im, err = in.read(img); err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", in.Source, in.imageName(img.Source), err)
			}
			done[img.Digest] = im
		}
		im.Name, im.Platform = img.Name, img.Platform
		rep.Images = append(rep.Images, im)
	}
	return rep, nil
}

func (in *Input) read(img Image) (inspect.Image, error) {
	md := img.Metadata
	if in.opts.LabelOnly && md.Label != nil {
		return imagemeta.Image(img.Source, md)
	}
	im, err := inspect.Scan(img.Source, in.opts.Limits...)
	if err != nil {
		return im, err
	}
	if md.Present() {
		if err := imagemeta.Verify(md, im); err != nil {
			return im, err
		}
	}
	return im, nil
}

// Read opens arg and reads it: Open, then Input.Read.
func Read(arg string, o Options) (*Input, *inspect.Report, error) {
	in, err := Open(arg, o)
	if err != nil {
		return nil, nil, err
	}
	rep, err := in.Read()
	if err != nil {
		return nil, nil, err
	}
	return in, rep, nil
}

// ByDigest returns the image of the input with manifest digest d (for a
// docker save tarball, the image ID), as inspect.Image.Digest names it.
func (in *Input) ByDigest(d string) (Image, bool) {
	for _, img := range in.Images {
		if img.Digest == d {
			return img, true
		}
	}
	return Image{}, false
}
