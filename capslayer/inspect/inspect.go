package inspect

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Image is one image of a layout or archive.
type Image struct {
	// Name is the image's own name: its io.containerd.image.name
	// annotation, else its org.opencontainers.image.ref.name annotation
	// (often the tag alone), or a docker archive RepoTag; the manifest
	// digest when the image has no name. It is input, printed escaped.
	Name string
	// Digest is the manifest digest; for a docker save tarball, which holds
	// no manifest, it is the image ID (the config digest) as docker shows it.
	Digest string
	// Platform is os/arch[/variant].
	Platform string
	Layers   []tarfs.Layer
	// LabelOnly is true when the files were not read from the layers but
	// taken from the image's own io.capslayer.capabilities label, a claim
	// of the image about itself that nothing verified (package source,
	// with its LabelOnly option, builds such images; package policy never
	// passes one). Layers then hold the manifest's digests and the
	// label's files, and FinalPath is the label's path.
	LabelOnly bool
}

// Where the capability files of an image come from, as FilesFrom says and
// reports print it.
const (
	// FromLayer: read from the layer blob named by the layer's digest,
	// checked against that digest.
	FromLayer = "layer"
	// FromLabel: taken from the image's io.capslayer.capabilities label,
	// its layers not read: not verified.
	FromLabel = "label-unverified"
)

// FilesFrom returns FromLabel for an image whose files come from its label
// (LabelOnly), else FromLayer.
func (im Image) FilesFrom() string {
	if im.LabelOnly {
		return FromLabel
	}
	return FromLayer
}

// Files returns the files of all layers, bottom layer first.
func (im Image) Files() []tarfs.File {
	var fs []tarfs.File
	for _, l := range im.Layers {
		fs = append(fs, l.Files...)
	}
	return fs
}

// SortedFiles returns the files of all layers in layer and path order,
// whatever order the layers' tars hold them in, each with Layer set to its
// layer's index.
func (im Image) SortedFiles() []tarfs.File {
	var files []tarfs.File
	for _, l := range im.Layers {
		for _, f := range l.Files {
			f.Layer = l.Index
			files = append(files, f)
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		if files[i].Layer != files[j].Layer {
			return files[i].Layer < files[j].Layer
		}
		return files[i].Path < files[j].Path
	})
	return files
}

// Origin is what a report was read from. The reports built on a Report
// (policy's audit, requirements) embed it: its fields are the first of
// their JSON.
type Origin struct {
	// Source is the path (or registry reference) as given.
	Source string `json:"source"`
	// Kind is "layer", "oci-layout", "oci-archive", "docker-archive" (or
	// "registry", see capslayer/registry).
	Kind string `json:"kind"`
}

// Report is the result of Path.
type Report struct {
	Origin
	Images []Image
	// Skipped lists the manifests of a layout that are not images
	// (attestations, signatures, other artifacts), as "digest (media type)".
	Skipped []string
}

// Kinds of input, as in Report.Kind.
const (
	KindLayer         = "layer"
	KindOCILayout     = "oci-layout"
	KindDockerArchive = "docker-archive"
	// KindOCIArchive is an OCI image layout packed in a tar, as
	// `podman save --format oci-archive` and skopeo's oci-archive: write.
	KindOCIArchive = "oci-archive"
)

// Path inspects a layer tar (plain, gzip or zstd), an OCI image layout
// directory (every manifest, indexes recursively, multi-platform) or the
// same packed in a tar (oci-archive), or a docker/podman save tarball. A
// layer is reported as one image without name, digest or platform, holding
// that one layer. It is Open followed by Local.Report.
func Path(p string, opts ...tarfs.Option) (_ *Report, err error) {
	defer errprefix.Add(&err, "inspect")
	l, err := open(diskInput(p), tarfs.NewLimits(opts))
	if err != nil {
		return nil, err
	}
	return l.report()
}

// PathFS is Path for the input named name in fsys (a directory or a file,
// as fs.ValidPath names them): the same reader, on any file system. Its
// files must be regular files that can seek (fstest.MapFS, embed.FS).
func PathFS(fsys fs.FS, name string, opts ...tarfs.Option) (_ *Report, err error) {
	defer errprefix.Add(&err, "inspect")
	l, err := open(input{fsys, name, name}, tarfs.NewLimits(opts))
	if err != nil {
		return nil, err
	}
	return l.report()
}

// Local is a local input opened once by Open: its kind and, for an image
// input, its images, resolved from the index or manifest.json without
// reading any layer. Report scans it.
type Local struct {
	Origin
	// Sources are the images of the input, in index order (a tag of an
	// image already listed is listed again); none for a layer tar.
	Sources []Source
	// Skipped lists the manifests that are not images, as in Report.
	Skipped []string
	in      input
	o       *tarfs.Limits
}

// Open tells which kind of local input p is and, for an image input (an
// OCI layout directory or oci-archive tar, a docker save tarball), lists
// its images as Images does; a layer tar has none. No layer is read.
func Open(p string, opts ...tarfs.Option) (_ *Local, err error) {
	defer errprefix.Add(&err, "inspect")
	return open(diskInput(p), tarfs.NewLimits(opts))
}

// OpenFS is Open for the input named name in fsys, as PathFS.
func OpenFS(fsys fs.FS, name string, opts ...tarfs.Option) (_ *Local, err error) {
	defer errprefix.Add(&err, "inspect")
	return open(input{fsys, name, name}, tarfs.NewLimits(opts))
}

func open(in input, o *tarfs.Limits) (*Local, error) {
	kind, err := detect(in, o)
	if err != nil {
		return nil, err
	}
	l := &Local{Origin: Origin{Source: in.path, Kind: kind}, in: in, o: o}
	if kind != KindLayer {
		if l.Sources, l.Skipped, err = images(in, kind, o); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Report reads the layers of the input: the layer tar itself, or the layers
// of every image (once per manifest digest, however many tags name it),
// as Path reports them.
func (l *Local) Report() (_ *Report, err error) {
	defer errprefix.Add(&err, "inspect")
	return l.report()
}

func (l *Local) report() (*Report, error) {
	p, o := l.in.path, l.o
	rep := &Report{Origin: l.Origin, Skipped: l.Skipped}
	if l.Kind == KindLayer {
		f, _, err := openRegular(l.in.fsys, l.in.name, p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ls, err := scanLayer(f, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		rep.Images = []Image{{Layers: ls}}
		return rep, nil
	}
	done := map[string][]tarfs.Layer{} // by manifest digest: tags of one image
	for _, src := range l.Sources {
		im := Image{Name: src.Name, Digest: src.Digest, Platform: src.Platform}
		if ls, ok := done[src.Digest]; ok {
			im.Layers = ls
		} else {
			ls, err := scan(src.Image, o)
			if err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", p, src.Name, err)
			}
			done[src.Digest] = ls
			im.Layers = ls
		}
		rep.Images = append(rep.Images, im)
	}
	return rep, nil
}

// LayerReader inspects one layer stream (compression sniffed) and returns
// its files that carry capabilities, in archive order, with Layer 0.
func LayerReader(r io.Reader, opts ...tarfs.Option) (_ []tarfs.File, err error) {
	defer errprefix.Add(&err, "inspect")
	ls, err := scanLayer(r, tarfs.NewLimits(opts))
	if err != nil {
		return nil, err
	}
	return ls[0].Files, nil
}

// scanLayer scans one layer stream as an image of that one layer.
func scanLayer(r io.Reader, o *tarfs.Limits) ([]tarfs.Layer, error) {
	sc := tarfs.NewScanner(nil)
	walk := sc.Layer()
	st, err := walkData(r, func(p string, hdr *tar.Header, _ io.Reader) error { return walk(p, hdr) }, o)
	if err != nil {
		return nil, err
	}
	ls := sc.Finish()
	ls[0].Digest, ls[0].DiffID, ls[0].MediaType = st.Digest, st.DiffID, st.MediaType()
	return ls, nil
}
