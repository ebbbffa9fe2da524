// This file turns blobs read as stored into a go-containerregistry image
// (partial.CompressedImageCore): layers keep their bytes, so appending them
// to another image keeps their digests and PAX records.

package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobImage is an image whose blobs are read as stored: partial turns it
// into a v1.Image.
type blobImage struct {
	mediaType types.MediaType
	rawCfg    []byte
	cfg       *v1.ConfigFile
	open      func(i int) (io.ReadCloser, error)
	nLayers   int
	// The manifest comes from the input (layouts) or is made on first use
	// by makeManifest (docker archives, which hold none).
	manifestOnce sync.Once
	rawManifest  []byte
	manifest     *v1.Manifest
	manifestErr  error
	makeManifest func() (*v1.Manifest, error)
}

var _ partial.CompressedImageCore = (*blobImage)(nil)

func newBlobImage(mt types.MediaType, rawManifest []byte, m *v1.Manifest, rawCfg []byte, open func(int) (io.ReadCloser, error), o *tarfs.Limits) (*blobImage, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	n := len(cfg.RootFS.DiffIDs)
	if m != nil && len(m.Layers) != n {
		return nil, fmt.Errorf("the manifest lists %d layers but the config has %d diff_ids", len(m.Layers), n)
	}
	if n > o.MaxLayers {
		return nil, fmt.Errorf("%w: more than %d layers", tarfs.ErrLimit, o.MaxLayers)
	}
	for _, h := range cfg.RootFS.DiffIDs {
		if err := checkDigest(h); err != nil {
			return nil, fmt.Errorf("config diff_id: %w", err)
		}
	}
	if m != nil {
		for _, l := range m.Layers {
			if err := checkDigest(l.Digest); err != nil {
				return nil, fmt.Errorf("layer: %w", err)
			}
		}
	}
	bi := &blobImage{mediaType: mt, rawCfg: rawCfg, cfg: cfg, open: open, nLayers: n}
	if m != nil {
		bi.manifest, bi.rawManifest = m, rawManifest
		bi.manifestOnce.Do(func() {})
	}
	return bi, nil
}

func (bi *blobImage) platform() string {
	if bi.cfg.OS == "" && bi.cfg.Architecture == "" {
		return ""
	}
	p := v1.Platform{OS: bi.cfg.OS, Architecture: bi.cfg.Architecture, Variant: bi.cfg.Variant}
	return p.String()
}

func (bi *blobImage) source(name, digest, plat string) Source {
	img, _ := partial.CompressedToImage(bi) // never fails
	return Source{Name: name, Digest: digest, Platform: plat, Image: img}
}

func (bi *blobImage) getManifest() (*v1.Manifest, []byte, error) {
	bi.manifestOnce.Do(func() {
		bi.manifest, bi.manifestErr = bi.makeManifest()
		if bi.manifestErr == nil {
			bi.rawManifest, bi.manifestErr = json.Marshal(bi.manifest)
		}
	})
	return bi.manifest, bi.rawManifest, bi.manifestErr
}

// RawConfigFile implements partial.CompressedImageCore.
func (bi *blobImage) RawConfigFile() ([]byte, error) { return bi.rawCfg, nil }

// MediaType implements partial.CompressedImageCore.
func (bi *blobImage) MediaType() (types.MediaType, error) { return bi.mediaType, nil }

// RawManifest implements partial.CompressedImageCore.
func (bi *blobImage) RawManifest() ([]byte, error) {
	_, b, err := bi.getManifest()
	return b, err
}

// LayerByDigest implements partial.CompressedImageCore.
func (bi *blobImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, _, err := bi.getManifest()
	if err != nil {
		return nil, err
	}
	for i, d := range m.Layers {
		if d.Digest == h {
			return &blobLayer{desc: d, diffID: bi.cfg.RootFS.DiffIDs[i], i: i, open: bi.open}, nil
		}
	}
	return nil, fmt.Errorf("image has no layer %s", h)
}

// blobLayer is a layer blob read as stored.
type blobLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	i      int
	open   func(int) (io.ReadCloser, error)
}

// Digest implements partial.CompressedLayer.
func (l *blobLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }

// DiffID implements partial.WithDiffID.
func (l *blobLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Compressed implements partial.CompressedLayer.
func (l *blobLayer) Compressed() (io.ReadCloser, error) { return l.open(l.i) }

// Size implements partial.CompressedLayer.
func (l *blobLayer) Size() (int64, error) { return l.desc.Size, nil }

// MediaType implements partial.CompressedLayer.
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
