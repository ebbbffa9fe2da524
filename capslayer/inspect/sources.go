package inspect

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
	Image v1.Image

	blobs *blobImage
}

// Images lists the images of an OCI image layout directory or oci-archive
// tar (indexes followed recursively; artifacts that are not images are
// skipped) or of a docker/podman save tarball, and returns the input's kind.
func Images(p string, opts ...Option) (string, []Source, error) {
	o := makeOptions(opts)
	kind, err := detect(p, o)
	if err != nil {
		return "", nil, err
	}
	if kind == KindLayer {
		return "", nil, fmt.Errorf("%s is a single layer tar, not an image (an OCI layout directory or a docker save tarball)", p)
	}
	srcs, _, err := images(p, kind, o)
	return kind, srcs, err
}

func images(p, kind string, o *options) ([]Source, []string, error) {
	switch kind {
	case KindOCILayout:
		return readLayout(p, dirOpener(p), o)
	case KindOCIArchive:
		a, err := indexArchive(p, o)
		if err != nil {
			return nil, nil, err
		}
		return readLayout(p, a.opener(), o)
	}
	srcs, err := readDockerArchive(p, o)
	return srcs, nil, err
}

// detect tells a layout directory, a docker save tarball and a layer apart.
func detect(p string, o *options) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "index.json")); err != nil {
			return "", fmt.Errorf("%s is a directory but not an OCI image layout (no index.json)", p)
		}
		return KindOCILayout, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 6)
	n, _ := io.ReadFull(f, head)
	if c, err := Sniff(head[:n]); err != nil || c != CompressionNone {
		// Compressed: a layer (docker save tarballs are plain tars).
		return KindLayer, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	// A docker save tarball has manifest.json at its root; reading only the
	// headers is cheap because tar seeks over the contents of an *os.File.
	// An OCI layout packed in a tar (podman save --format oci-archive,
	// skopeo oci-archive:) has oci-layout and index.json at its root.
	tr := tar.NewReader(f)
	var ociLayout, ociIndex bool
	for i := 0; i < o.maxEntries; i++ {
		hdr, err := tr.Next()
		if err != nil {
			break // Walk reports what is wrong with a broken tar
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		switch path.Clean("/" + hdr.Name) {
		case "/manifest.json":
			var m []dockerManifest
			if hdr.Size <= maxJSONSize && json.NewDecoder(io.LimitReader(tr, maxJSONSize)).Decode(&m) == nil && len(m) > 0 && m[0].Config != "" {
				return KindDockerArchive, nil
			}
		case "/oci-layout":
			ociLayout = true
		case "/index.json":
			ociIndex = true
		}
	}
	if ociLayout && ociIndex {
		return KindOCIArchive, nil
	}
	return KindLayer, nil
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// checkDigest rejects digests that are not sha256 or could name a path
// outside blobs/.
func checkDigest(h v1.Hash) error {
	if !digestRE.MatchString(h.String()) {
		return fmt.Errorf("unsupported or malformed digest %q (only sha256 is supported)", h.String())
	}
	return nil
}

// readLimited reads all of r, failing past max bytes.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrLimit, what, max)
	}
	return b, nil
}

// opener opens a file of a layout by its slash-separated relative name.
type opener func(name string) (io.ReadCloser, error)

func dirOpener(dir string) opener {
	return func(name string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	}
}

func (a *archive) opener() opener {
	return func(name string) (io.ReadCloser, error) {
		rc, _, err := a.open(name)
		return rc, err
	}
}

// layoutWalker walks the indexes of an OCI image layout.
type layoutWalker struct {
	open    opener
	o       *options
	srcs    []Source
	onPath  map[string]bool // indexes being walked: a cycle guard
	skipped []string
}

func readLayout(dir string, open opener, o *options) ([]Source, []string, error) {
	f, err := open("index.json")
	if err != nil {
		return nil, nil, err
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
	f, err := w.open("blobs/" + d.Digest.Algorithm + "/" + d.Digest.Hex)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer f.Close()
	b, err := readLimited(f, maxJSONSize, "blob "+d.Digest.String())
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != d.Digest.Hex {
		return nil, fmt.Errorf("blob %s does not match its digest (sha256:%x): the layout is corrupt or was tampered with", d.Digest, got)
	}
	if d.Size != int64(len(b)) {
		return nil, fmt.Errorf("blob %s is %d bytes but its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b, nil
}

func refName(d v1.Descriptor, inherited string) string {
	if n := d.Annotations[AnnotationRefName]; n != "" {
		return n
	}
	if n := d.Annotations[AnnotationContainerName]; n != "" {
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
			if depth+1 > w.o.maxIndexDepth {
				return fmt.Errorf("%w: image indexes nested more than %d deep", ErrLimit, w.o.maxIndexDepth)
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

func (w *layoutWalker) image(d v1.Descriptor, name string, b []byte) error {
	if len(w.srcs) >= w.o.maxImages {
		return fmt.Errorf("%w: more than %d images", ErrLimit, w.o.maxImages)
	}
	if b == nil {
		var err error
		if b, err = w.blob(d); err != nil {
			return err
		}
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
		h := m.Layers[i].Digest
		return open("blobs/" + h.Algorithm + "/" + h.Hex)
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

func newBlobImage(mt types.MediaType, rawManifest []byte, m *v1.Manifest, rawCfg []byte, open func(int) (io.ReadCloser, error), o *options) (*blobImage, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	n := len(cfg.RootFS.DiffIDs)
	if m != nil && len(m.Layers) != n {
		return nil, fmt.Errorf("the manifest lists %d layers but the config has %d diff_ids", len(m.Layers), n)
	}
	if n > o.maxLayers {
		return nil, fmt.Errorf("%w: more than %d layers", ErrLimit, o.maxLayers)
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
	return Source{Name: name, Digest: digest, Platform: plat, Image: img, blobs: bi}
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

// scan inspects the source's layers bottom-up, checking every blob against
// its manifest digest and config diff ID.
func (src Source) scan(o *options) ([]Layer, error) {
	bi := src.blobs
	m, _, err := bi.getManifest()
	if err != nil {
		return nil, err
	}
	s := newImageScan()
	for i, d := range m.Layers {
		rc, err := bi.open(i)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		l, err := s.layer(rc, i, o)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, d.Digest, err)
		}
		if l.Digest != d.Digest.String() || l.DiffID != bi.cfg.RootFS.DiffIDs[i].String() {
			return nil, fmt.Errorf("layer %d: blob has digest %s and diff ID %s but the image says %s and %s: the image is corrupt or was tampered with",
				i, l.Digest, l.DiffID, d.Digest, bi.cfg.RootFS.DiffIDs[i])
		}
		s.layers[i].MediaType = string(d.MediaType)
	}
	return s.layers, nil
}

// dockerManifest is one entry of a docker save tarball's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// archiveMember locates a file inside a tarball.
type archiveMember struct {
	off, size int64
	typ       byte
	link      string
}

type archive struct {
	path    string
	members map[string]archiveMember
}

// indexArchive records where each member of a (plain) tarball starts.
func indexArchive(p string, o *options) (*archive, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &archive{path: p, members: map[string]archiveMember{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if len(a.members) >= o.maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries in %s", ErrLimit, o.maxEntries, p)
		}
		name, err := CleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		// tar reads headers block by block and no further, so the file
		// offset is now the start of the member's contents.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		a.members[name] = archiveMember{off: off, size: hdr.Size, typ: hdr.Typeflag, link: hdr.Linkname}
	}
}

// open opens a regular member, following symbolic and hard links (older
// docker save writes repeated layers as symlinks).
func (a *archive) open(name string) (io.ReadCloser, int64, error) {
	p, err := CleanName(name)
	if err != nil {
		return nil, 0, err
	}
	for hops := 0; ; hops++ {
		if hops > 16 {
			return nil, 0, fmt.Errorf("%s: too many links resolving %q", a.path, name)
		}
		m, ok := a.members[p]
		if !ok {
			return nil, 0, fmt.Errorf("%s: no member %q", a.path, name)
		}
		switch m.typ {
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.Open(a.path)
			if err != nil {
				return nil, 0, err
			}
			return struct {
				io.Reader
				io.Closer
			}{io.NewSectionReader(f, m.off, m.size), f}, m.size, nil
		case tar.TypeSymlink:
			p = path.Clean(path.Join(path.Dir(p), m.link))
		case tar.TypeLink:
			p = path.Clean("/" + m.link)
		default:
			return nil, 0, fmt.Errorf("%s: member %q is not a regular file", a.path, name)
		}
	}
}

func (a *archive) readJSON(name string) ([]byte, error) {
	rc, _, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readLimited(rc, maxJSONSize, name)
}

func readDockerArchive(p string, o *options) ([]Source, error) {
	a, err := indexArchive(p, o)
	if err != nil {
		return nil, err
	}
	b, err := a.readJSON("manifest.json")
	if err != nil {
		return nil, err
	}
	var dms []dockerManifest
	if err := json.Unmarshal(b, &dms); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", p, err)
	}
	var srcs []Source
	for _, dm := range dms {
		if len(srcs) >= o.maxImages {
			return nil, fmt.Errorf("%w: more than %d images", ErrLimit, o.maxImages)
		}
		rawCfg, err := a.readJSON(dm.Config)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(rawCfg)
		id := "sha256:" + hex.EncodeToString(sum[:])
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
		bi.makeManifest = func() (*v1.Manifest, error) { return dockerArchiveManifest(bi, rawCfg, len(layers)) }
		names := dm.RepoTags
		if len(names) == 0 {
			names = []string{id}
		}
		for _, n := range names {
			srcs = append(srcs, bi.source(n, id, bi.platform()))
		}
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%s: manifest.json lists no images", p)
	}
	return srcs, nil
}

// dockerArchiveManifest makes the OCI manifest a docker save tarball lacks,
// hashing each layer blob as stored and naming its media type after its
// actual compression (docker save stores plain tars).
func dockerArchiveManifest(bi *blobImage, rawCfg []byte, n int) (*v1.Manifest, error) {
	cfgSum := sha256.Sum256(rawCfg)
	m := &v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config: v1.Descriptor{
			MediaType: types.OCIConfigJSON,
			Size:      int64(len(rawCfg)),
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(cfgSum[:])},
		},
		Layers: []v1.Descriptor{},
	}
	for i := 0; i < n; i++ {
		rc, err := bi.open(i)
		if err != nil {
			return nil, err
		}
		h, cnt := sha256.New(), &counter{}
		br := bufio.NewReader(io.TeeReader(rc, io.MultiWriter(h, cnt)))
		head, _ := br.Peek(6)
		c, err := Sniff(head)
		if err == nil {
			_, err = io.Copy(io.Discard, br)
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		d := v1.Descriptor{
			MediaType: types.MediaType(Stream{Compression: c}.MediaType()),
			Size:      cnt.n,
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))},
		}
		m.Layers = append(m.Layers, d)
	}
	return m, nil
}
