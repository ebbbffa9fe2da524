// This file walks an OCI image layout (a directory or an oci-archive tar).
//
// It is hand-written rather than go-containerregistry's layout package
// because that package reads index.json and manifests with os.ReadFile and
// io.ReadAll (no size limit: /dev/zero or a FIFO exhaust memory or hang),
// reads only directories (not oci-archive tars), does not check manifest
// digests and refuses every symlinked blob (rules_oci's tree artifacts and
// Bazel's sandboxes and runfiles are made of them). It still parses with
// go-containerregistry's types (v1.ParseIndexManifest, v1.ParseManifest).

package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/capslayer/rules_capslayer/capslayer/internal/digest"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layoutWalker walks the indexes of an OCI image layout.
type layoutWalker struct {
	open    opener
	o       *tarfs.Limits
	srcs    []Source
	onPath  map[string]bool // indexes being walked: a cycle guard
	skipped []string
}

func readLayout(dir string, open opener, o *tarfs.Limits) ([]Source, []string, error) {
	f, err := open("index.json", -1)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	b, err := readLimited(f, maxJSONSize, "index.json")
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: index.json: %w", dir, err)
	}
	w := &layoutWalker{open: open, o: o, onPath: map[string]bool{}}
	if err := w.index(im, "", 0); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return w.srcs, w.skipped, nil
}

// blob reads a JSON blob, checking its size and digest.
func (w *layoutWalker) blob(d v1.Descriptor) ([]byte, error) {
	if err := checkDigest(d.Digest); err != nil {
		return nil, err
	}
	if d.Size > maxJSONSize {
		return nil, fmt.Errorf("%w: blob %s is %d bytes, more than the %d allowed for a manifest, index or config", tarfs.ErrLimit, d.Digest, d.Size, maxJSONSize)
	}
	f, err := w.open("blobs/"+d.Digest.Algorithm+"/"+d.Digest.Hex, d.Size)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer f.Close()
	b, err := readLimited(f, maxJSONSize, "blob "+d.Digest.String())
	if err != nil {
		return nil, err
	}
	if got := digest.Bytes(b); got.Hex != d.Digest.Hex {
		return nil, fmt.Errorf("blob %s does not match its digest (%s): the layout is corrupt or was tampered with", d.Digest, got)
	}
	if d.Size != int64(len(b)) {
		return nil, fmt.Errorf("blob %s is %d bytes but its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b, nil
}

// refName names the image of d: the full name (io.containerd.image.name,
// "example.com/app:1.0") before the ref.name annotation, which tools that
// write layouts often give the tag alone ("1.0").
func refName(d v1.Descriptor, inherited string) string {
	if n := d.Annotations[AnnotationContainerName]; n != "" {
		return n
	}
	if n := d.Annotations[AnnotationRefName]; n != "" {
		return n
	}
	return inherited
}

func (w *layoutWalker) index(im *v1.IndexManifest, name string, depth int) error {
	for _, d := range im.Manifests {
		if err := checkDigest(d.Digest); err != nil {
			return err
		}
		n := refName(d, name)
		mt := d.MediaType
		var b []byte
		if mt == "" {
			// The media type is optional in old indexes; the blob says.
			var err error
			if b, err = w.blob(d); err != nil {
				return err
			}
			var probe struct {
				MediaType types.MediaType `json:"mediaType"`
			}
			_ = json.Unmarshal(b, &probe)
			mt = probe.MediaType
		}
		switch mt {
		case types.OCIImageIndex, types.DockerManifestList:
			if depth+1 > w.o.MaxIndexDepth {
				return fmt.Errorf("%w: image indexes nested more than %d deep", tarfs.ErrLimit, w.o.MaxIndexDepth)
			}
			if w.onPath[d.Digest.String()] {
				return fmt.Errorf("image index %s contains itself", d.Digest)
			}
			if b == nil {
				var err error
				if b, err = w.blob(d); err != nil {
					return err
				}
			}
			if err := checkBlobKind(d, b, true); err != nil {
				return err
			}
			child, err := v1.ParseIndexManifest(bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("image index %s: %w", d.Digest, err)
			}
			w.onPath[d.Digest.String()] = true
			err = w.index(child, n, depth+1)
			delete(w.onPath, d.Digest.String())
			if err != nil {
				return err
			}
		case types.OCIManifestSchema1, types.DockerManifestSchema2:
			if err := w.image(d, n, b); err != nil {
				return err
			}
		default:
			w.skipped = append(w.skipped, fmt.Sprintf("%s (%s)", d.Digest, mt))
		}
	}
	return nil
}

// checkBlobKind refuses a blob whose content contradicts its descriptor's
// media type: an entry typed as an index that holds an image manifest
// would otherwise parse as an index of no images, and the layout would be
// read as holding nothing.
func checkBlobKind(d v1.Descriptor, b []byte, wantIndex bool) error {
	var probe struct {
		MediaType types.MediaType  `json:"mediaType"`
		Config    *json.RawMessage `json:"config"`
		Manifests *json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return fmt.Errorf("blob %s is not JSON: %w", d.Digest, err)
	}
	isIndex := probe.MediaType.IsIndex() || (probe.MediaType == "" && probe.Manifests != nil && probe.Config == nil)
	isImage := probe.MediaType.IsImage() || (probe.MediaType == "" && probe.Config != nil && probe.Manifests == nil)
	if (wantIndex && isImage) || (!wantIndex && isIndex) {
		got := string(probe.MediaType)
		if got == "" {
			got = map[bool]string{true: "an image index", false: "an image manifest"}[isIndex]
		}
		return fmt.Errorf("descriptor %s says %s but the blob is %s: the layout is corrupt", d.Digest, d.MediaType, got)
	}
	return nil
}

func (w *layoutWalker) image(d v1.Descriptor, name string, b []byte) error {
	if len(w.srcs) >= w.o.MaxImages {
		return fmt.Errorf("%w: more than %d images", tarfs.ErrLimit, w.o.MaxImages)
	}
	if b == nil {
		var err error
		if b, err = w.blob(d); err != nil {
			return err
		}
	}
	if err := checkBlobKind(d, b, false); err != nil {
		return err
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if !m.Config.MediaType.IsConfig() {
		// An artifact (attestation, signature...): not a filesystem.
		w.skipped = append(w.skipped, fmt.Sprintf("%s (artifact %s)", d.Digest, m.Config.MediaType))
		return nil
	}
	rawCfg, err := w.blob(m.Config)
	if err != nil {
		return fmt.Errorf("manifest %s: config: %w", d.Digest, err)
	}
	open := w.open
	bi, err := newBlobImage(d.MediaType, b, m, rawCfg, func(i int) (io.ReadCloser, error) {
		d := m.Layers[i]
		return open("blobs/"+d.Digest.Algorithm+"/"+d.Digest.Hex, d.Size)
	}, w.o)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if name == "" {
		name = d.Digest.String()
	}
	plat := bi.platform()
	if plat == "" && d.Platform != nil {
		plat = d.Platform.String()
	}
	w.srcs = append(w.srcs, bi.source(name, d.Digest.String(), plat))
	return nil
}
