// This file reads docker/podman save tarballs (manifest.json at the root).

package inspect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/digest"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// dockerManifest is one entry of a docker save tarball's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func readDockerArchive(in input, o *tarfs.Limits) ([]Source, error) {
	p := in.path
	a, err := indexArchive(in, o)
	if err != nil {
		return nil, err
	}
	b, err := a.readJSON("manifest.json")
	if err != nil {
		return nil, err
	}
	var dms []dockerManifest
	if err := json.Unmarshal(b, &dms); err != nil {
		return nil, fmt.Errorf("%s has a manifest.json at its root, so it is read as a docker save tarball, but that file is not a docker save manifest (a JSON array of {\"Config\", \"RepoTags\", \"Layers\"}): %w", p, err)
	}
	if len(dms) == 0 {
		return nil, fmt.Errorf("%w: %s: its manifest.json lists no image (%s)", ErrNoImage, p, bytes.TrimSpace(b[:min(len(b), 16)]))
	}
	var srcs []Source
	for i, dm := range dms {
		if dm.Config == "" {
			return nil, fmt.Errorf("%s: manifest.json entry %d names no Config: not a docker save manifest", p, i)
		}
		if len(srcs) >= o.MaxImages {
			return nil, fmt.Errorf("%w: more than %d images", tarfs.ErrLimit, o.MaxImages)
		}
		rawCfg, err := a.readJSON(dm.Config)
		if err != nil {
			return nil, err
		}
		cfgDigest := digest.Bytes(rawCfg)
		id := cfgDigest.String()
		layers := dm.Layers
		bi, err := newBlobImage(types.OCIManifestSchema1, nil, nil, rawCfg, func(i int) (io.ReadCloser, error) {
			rc, _, err := a.open(layers[i])
			return rc, err
		}, o)
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", p, id, err)
		}
		if len(layers) != bi.nLayers {
			return nil, fmt.Errorf("%s: image %s: manifest.json lists %d layers but the config has %d diff_ids", p, id, len(layers), bi.nLayers)
		}
		bi.makeManifest = func() (*v1.Manifest, error) { return dockerArchiveManifest(bi, rawCfg, cfgDigest, len(layers)) }
		names := dm.RepoTags
		if len(names) == 0 {
			names = []string{id}
		}
		for _, n := range names {
			srcs = append(srcs, bi.source(n, id, bi.platform()))
		}
	}
	return srcs, nil
}

// dockerArchiveManifest makes the OCI manifest a docker save tarball lacks,
// hashing each layer blob as stored and naming its media type after its
// actual compression (docker save stores plain tars).
func dockerArchiveManifest(bi *blobImage, rawCfg []byte, cfgDigest v1.Hash, n int) (*v1.Manifest, error) {
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config: v1.Descriptor{
			MediaType: types.OCIConfigJSON,
			Size:      int64(len(rawCfg)),
			Digest:    cfgDigest,
		},
		Layers: []v1.Descriptor{},
	}
	for i := 0; i < n; i++ {
		rc, err := bi.open(i)
		if err != nil {
			return nil, err
		}
		dw := digest.New()
		br := bufio.NewReader(io.TeeReader(rc, dw))
		head, _ := br.Peek(compression.SniffLen)
		c, err := compression.Sniff(head)
		if err == nil {
			_, err = io.Copy(io.Discard, br)
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		d := v1.Descriptor{
			MediaType: compression.MediaType(c),
			Size:      dw.Size(),
			Digest:    dw.Digest(),
		}
		m.Layers = append(m.Layers, d)
	}
	return m, nil
}
