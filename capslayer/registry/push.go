package registry

import (
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// Pushed is the result of Push.
type Pushed struct {
	// Reference is the pushed reference, pinned: REPO[:TAG]@sha256:...
	Reference string
	// Digest is the manifest (or index) digest, the layout's.
	Digest string
}

// Push pushes the image of an OCI image layout directory (what caps_image
// and `capslayer image` write) to dst (REPO, REPO:TAG or REPO@sha256:...).
// The manifest and blobs are pushed byte for byte, so the digest in the
// registry is the layout's. A layout whose index.json lists one image index
// (a multi-platform image) pushes that index and its images.
func Push(dir, dst string, o Options) (_ *Pushed, err error) {
	defer errprefix.Add(&err, "registry")
	ref, err := ParseReference(dst, o)
	if err != nil {
		return nil, err
	}
	ropts, err := o.remoteOptions()
	if err != nil {
		return nil, err
	}
	kind, srcs, err := inspect.Images(dir)
	if err != nil {
		return nil, err
	}
	if kind != inspect.KindOCILayout {
		return nil, fmt.Errorf("registry: %s is a %s: Push takes an OCI image layout directory (caps_image's default output)", dir, kind)
	}
	var digest string
	var t remote.Taggable
	if len(srcs) == 1 {
		digest, t = srcs[0].Digest, srcs[0].Image
	} else {
		idx, d, err := singleIndex(dir)
		if err != nil {
			return nil, fmt.Errorf("registry: %s holds %d images: %w", dir, len(srcs), err)
		}
		digest, t = d, idx
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != digest {
		return nil, fmt.Errorf("registry: %s: the layout's image is %s, not %s", dst, digest, d.DigestStr())
	}
	switch v := t.(type) {
	case v1.Image:
		err = remote.Write(ref, v, ropts...)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, v, ropts...)
	}
	if err != nil {
		return nil, explain(err, ref, "pushing to")
	}
	pinned := ref.Context().Digest(digest).String()
	if tag, ok := ref.(name.Tag); ok {
		pinned = tag.String() + "@" + digest
	}
	return &Pushed{Reference: pinned, Digest: digest}, nil
}

// singleIndex returns the image index that a layout's index.json lists
// alone.
func singleIndex(dir string) (v1.ImageIndex, string, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(im.Manifests) != 1 || (im.Manifests[0].MediaType != types.OCIImageIndex && im.Manifests[0].MediaType != types.DockerManifestList) {
		return nil, "", errors.New("the layout's index.json lists neither one image nor one image index: push the images one at a time")
	}
	child, err := ii.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		return nil, "", err
	}
	return child, im.Manifests[0].Digest.String(), nil
}
