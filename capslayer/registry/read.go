package registry

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// KindRegistry is the inspect.Report kind of an image read from a registry.
const KindRegistry = "registry"

// Bounds of Images, besides those of every request (see MaxRequests).
const (
	// MaxConfigSize bounds an image config: the config is held in memory,
	// and a hostile registry could announce any size.
	MaxConfigSize = 4 << 20
	// MaxMetadataSize bounds the manifests, indexes and configs one call
	// of Images reads, in total: they are held until the images are read.
	MaxMetadataSize = 16 << 20
	// MaxFetches bounds the manifests, indexes and configs one call of
	// Images fetches; each manifest is fetched once per digest, however
	// many indexes list it.
	MaxFetches = 1024
	// MaxIndexEntries bounds the entries of one image index (a
	// multi-platform image lists a few dozen, with its attestations).
	MaxIndexEntries = 1024
	// MaxIndexDepth bounds how deeply image indexes nest below the
	// reference, as for a local layout.
	MaxIndexDepth = tarfs.DefaultMaxIndexDepth
)

// Images resolves ref and returns its images: the image itself, or every
// image of an image index (manifest list), followed recursively, with their
// platforms; an image listed more than once (by the same digest) is
// returned once. Manifests that are not images (attestations, signatures)
// are returned in skipped as "digest (media type)". Nothing but the
// manifests and configs is read; the layers are read when inspect.Scan
// reads the sources, within the same Options.Timeout and MaxRequests.
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
	// One puller: one ping and one token for every manifest of the
	// repository.
	p, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, nil, explain(err, r, "reading")
	}
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	desc, err := p.Get(ctx, r)
	if err != nil {
		return nil, nil, explain(err, r, "reading")
	}
	w := &walker{ref: r, name: ref, ctx: ctx, puller: p, seen: map[v1.Hash]bool{}, fetches: 1}
	if err := w.add(desc.Descriptor.Digest, int64(len(desc.Manifest))); err != nil {
		return nil, nil, err
	}
	if err := w.descriptor(desc.Descriptor, desc, 0); err != nil {
		return nil, nil, err
	}
	if len(w.srcs) == 0 {
		return nil, w.skipped, fmt.Errorf("registry: %s holds no image (skipped: %v)", ref, w.skipped)
	}
	return w.srcs, w.skipped, nil
}

// walker follows an image index, each manifest once, within the fetch
// budget.
type walker struct {
	ref     name.Reference
	name    string
	ctx     context.Context
	puller  *remote.Puller
	seen    map[v1.Hash]bool
	fetches int
	bytes   int64
	srcs    []inspect.Source
	skipped []string
}

// fetch counts the fetch of what d describes, before it is made.
func (w *walker) fetch(what string, d v1.Descriptor, max int64) error {
	w.fetches++
	if w.fetches > MaxFetches {
		return fmt.Errorf("%w: %s: more than %d manifests, indexes and configs (MaxFetches)", ErrBudget, w.name, MaxFetches)
	}
	if d.Size > max {
		return fmt.Errorf("%w: %s: the %s %s is %d bytes, more than %d", ErrTooLarge, w.name, what, d.Digest, d.Size, max)
	}
	return nil
}

// add counts n bytes of metadata read, for MaxMetadataSize.
func (w *walker) add(d v1.Hash, n int64) error {
	w.bytes += n
	if w.bytes > MaxMetadataSize {
		return fmt.Errorf("%w: %s: more than %d bytes of manifests, indexes and configs in all (MaxMetadataSize), at %s", ErrTooLarge, w.name, MaxMetadataSize, d)
	}
	return nil
}

// get fetches the manifest or index that d describes, as d says it is.
func (w *walker) get(what string, d v1.Descriptor) (*remote.Descriptor, error) {
	if err := w.fetch(what, d, MaxManifestSize); err != nil {
		return nil, err
	}
	got, err := w.puller.Get(w.ctx, w.ref.Context().Digest(d.Digest.String()))
	if err != nil {
		return nil, explain(err, w.ref, "reading")
	}
	if got.MediaType.IsIndex() != d.MediaType.IsIndex() {
		return nil, fmt.Errorf("registry: %s: %s is listed as %s but is %s", w.name, d.Digest, d.MediaType, got.MediaType)
	}
	// The registry answers for a digest with content of that digest
	// (go-containerregistry checks it); the index's media type is the
	// one the image is read as.
	got.MediaType = d.MediaType
	return got, w.add(d.Digest, int64(len(got.Manifest)))
}

// descriptor adds the image or index that d describes; top is its
// fetched descriptor, or nil to fetch it.
func (w *walker) descriptor(d v1.Descriptor, top *remote.Descriptor, depth int) error {
	if w.seen[d.Digest] {
		return nil
	}
	w.seen[d.Digest] = true
	switch d.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		if depth >= MaxIndexDepth {
			return fmt.Errorf("%w: %s: image indexes nested more than %d deep (MaxIndexDepth)", ErrIndex, w.name, MaxIndexDepth)
		}
		if top == nil {
			var err error
			if top, err = w.get("index", d); err != nil {
				return err
			}
		}
		im, err := v1.ParseIndexManifest(bytes.NewReader(top.Manifest))
		if err != nil {
			return explain(err, w.ref, "reading the index of")
		}
		if len(im.Manifests) > MaxIndexEntries {
			return fmt.Errorf("%w: %s: the index %s lists %d manifests, more than %d (MaxIndexEntries)", ErrIndex, w.name, d.Digest, len(im.Manifests), MaxIndexEntries)
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
	if top == nil {
		var err error
		if top, err = w.get("manifest", d); err != nil {
			return err
		}
	}
	img, err := top.Image()
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
	if err := w.fetch("config", m.Config, MaxConfigSize); err != nil {
		return err
	}
	if err := w.add(m.Config.Digest, m.Config.Size); err != nil {
		return err
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
