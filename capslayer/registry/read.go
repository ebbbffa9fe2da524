package registry

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// KindRegistry is the inspect.Report kind of an image read from a registry.
const KindRegistry = "registry"

// MaxConfigSize bounds an image config read from a registry: the config is
// held in memory, and a hostile registry could announce any size.
const MaxConfigSize = 16 << 20

// Images resolves ref and returns its images: the image itself, or every
// image of an image index (manifest list), followed recursively, with their
// platforms. Manifests that are not images (attestations, signatures) are
// returned in skipped as "digest (media type)". Nothing but the manifests
// is read; the layers are read when inspect.Scan reads the sources.
func Images(ref string, o Options) (srcs []inspect.Source, skipped []string, err error) {
	defer errprefix.Add(&err, "registry")
	r, err := ParseReference(ref, o)
	if err != nil {
		return nil, nil, err
	}
	ropts, err := o.remoteOptions()
	if err != nil {
		return nil, nil, err
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, nil, explain(err, r, "reading")
	}
	w := &walker{ref: r, name: ref, ropts: ropts}
	if err := w.descriptor(desc.Descriptor, desc, 0); err != nil {
		return nil, nil, err
	}
	if len(w.srcs) == 0 {
		return nil, w.skipped, fmt.Errorf("registry: %s holds no image (skipped: %v)", ref, w.skipped)
	}
	return w.srcs, w.skipped, nil
}

type walker struct {
	ref     name.Reference
	name    string
	ropts   []remote.Option
	srcs    []inspect.Source
	skipped []string
}

// descriptor adds the image or index that d describes; top is the fetched
// descriptor of the reference itself (nil below it).
func (w *walker) descriptor(d v1.Descriptor, top *remote.Descriptor, depth int) error {
	switch d.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		if depth >= inspect.DefaultMaxIndexDepth {
			return fmt.Errorf("registry: %s: %w: image indexes nested more than %d deep", w.name, inspect.ErrLimit, inspect.DefaultMaxIndexDepth)
		}
		var idx v1.ImageIndex
		var err error
		if top != nil {
			idx, err = top.ImageIndex()
		} else {
			idx, err = remote.Index(w.ref.Context().Digest(d.Digest.String()), w.ropts...)
		}
		if err != nil {
			return explain(err, w.ref, "reading the index of")
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return explain(err, w.ref, "reading the index of")
		}
		for _, c := range im.Manifests {
			if err := w.descriptor(c, nil, depth+1); err != nil {
				return err
			}
		}
		return nil
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
	default:
		w.skipped = append(w.skipped, fmt.Sprintf("%s (%s)", d.Digest, d.MediaType))
		return nil
	}
	if len(w.srcs) >= inspect.DefaultMaxImages {
		return fmt.Errorf("registry: %s: %w: more than %d images", w.name, inspect.ErrLimit, inspect.DefaultMaxImages)
	}
	var img v1.Image
	var err error
	if top != nil {
		img, err = top.Image()
	} else {
		img, err = remote.Image(w.ref.Context().Digest(d.Digest.String()), w.ropts...)
	}
	if err != nil {
		return explain(err, w.ref, "reading")
	}
	m, err := img.Manifest()
	if err != nil {
		return explain(err, w.ref, "reading the manifest of")
	}
	if !m.Config.MediaType.IsConfig() {
		w.skipped = append(w.skipped, fmt.Sprintf("%s (artifact %s)", d.Digest, m.Config.MediaType))
		return nil
	}
	if m.Config.Size > MaxConfigSize {
		return fmt.Errorf("registry: %s: %w: the config of %s is %d bytes, more than %d", w.name, inspect.ErrLimit, d.Digest, m.Config.Size, MaxConfigSize)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return explain(err, w.ref, "reading the config of")
	}
	plat := ""
	if cf.OS != "" || cf.Architecture != "" {
		plat = (&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String()
	} else if d.Platform != nil {
		plat = d.Platform.String()
	}
	w.srcs = append(w.srcs, inspect.Source{Name: w.name, Digest: d.Digest.String(), Platform: plat, Image: img})
	return nil
}
