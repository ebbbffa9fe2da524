package inspect

import (
	"archive/tar"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// libarchiveKey is the record bsdtar writes next to the SCHILY one; its value
// is base64.
const libarchiveKey = "LIBARCHIVE.xattr.security.capability"

// File is one file that carries a security.capability xattr.
type File struct {
	// Path is absolute and clean: "/app/server".
	Path string
	// Xattr is the decoded value; zero if Invalid != "".
	Xattr caps.Xattr
	// Raw is the raw security.capability value (at most 1 KiB is kept).
	Raw []byte
	// Invalid, when non-empty, says why Raw could not be decoded. The file
	// is listed anyway: a malformed value is worth an audit finding.
	Invalid string
	// Mode holds the permission bits with setuid/setgid/sticky (mode & 07777).
	Mode int64
	// UID and GID are the numeric owner.
	UID, GID int
	// Size is the file size in bytes.
	Size int64
	// Type is "file", "hardlink" (a hard link to a file of the same layer
	// that carries the xattr; the kernel keeps xattrs per inode), "dir",
	// "symlink" or "other".
	Type string
	// Link is the target of a hardlink or symlink.
	Link string
	// FinalPath is Path with the symlinks of its parent directories
	// resolved as they were when its layer was unpacked: where the file is
	// in the final filesystem, if it is visible (/lib/x under /lib ->
	// usr/lib is /usr/lib/x).
	FinalPath string
	// Layer is the index of the layer in the image, 0 = bottom (base).
	Layer int
	// ShadowedBy is -1 if the file is visible in the final filesystem, else
	// the index of the layer that overwrote it or whited it out (.wh.<name>,
	// .wh..wh..opq of a parent dir, or a parent replaced by a non-dir). A
	// file written twice in the same layer is shadowed by that layer.
	ShadowedBy int
}

// Visible reports whether the file is present in the final filesystem.
func (f File) Visible() bool { return f.ShadowedBy < 0 }

// Layer is one layer of an image and its files that carry capabilities.
type Layer struct {
	Index     int
	Digest    string // blob digest, "sha256:<hex>"
	DiffID    string // digest of the decompressed tar
	MediaType string
	Files     []File
}

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
	Layers   []Layer
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
func (im Image) Files() []File {
	var fs []File
	for _, l := range im.Layers {
		fs = append(fs, l.Files...)
	}
	return fs
}

// SortedFiles returns the files of all layers in layer and path order,
// whatever order the layers' tars hold them in, each with Layer set to its
// layer's index.
func (im Image) SortedFiles() []File {
	var files []File
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
func Path(p string, opts ...Option) (_ *Report, err error) {
	defer errprefix.Add(&err, "inspect")
	l, err := open(diskInput(p), makeOptions(opts))
	if err != nil {
		return nil, err
	}
	return l.report()
}

// PathFS is Path for the input named name in fsys (a directory or a file,
// as fs.ValidPath names them): the same reader, on any file system. Its
// files must be regular files that can seek (fstest.MapFS, embed.FS).
func PathFS(fsys fs.FS, name string, opts ...Option) (_ *Report, err error) {
	defer errprefix.Add(&err, "inspect")
	l, err := open(input{fsys, name, name}, makeOptions(opts))
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
	o       *options
}

// Open tells which kind of local input p is and, for an image input (an
// OCI layout directory or oci-archive tar, a docker save tarball), lists
// its images as Images does; a layer tar has none. No layer is read.
func Open(p string, opts ...Option) (_ *Local, err error) {
	defer errprefix.Add(&err, "inspect")
	return open(diskInput(p), makeOptions(opts))
}

// OpenFS is Open for the input named name in fsys, as PathFS.
func OpenFS(fsys fs.FS, name string, opts ...Option) (_ *Local, err error) {
	defer errprefix.Add(&err, "inspect")
	return open(input{fsys, name, name}, makeOptions(opts))
}

func open(in input, o *options) (*Local, error) {
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
		s := newImageScan()
		if err := s.layer(f, 0, o); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		rep.Images = []Image{{Layers: s.finish()}}
		return rep, nil
	}
	done := map[string][]Layer{} // by manifest digest: tags of one image
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
func LayerReader(r io.Reader, opts ...Option) (_ []File, err error) {
	defer errprefix.Add(&err, "inspect")
	s := newImageScan()
	if err := s.layer(r, 0, makeOptions(opts)); err != nil {
		return nil, err
	}
	return s.finish()[0].Files, nil
}

// fileRef locates a File in an imageScan.
type fileRef struct{ layer, file int }

// imageScan follows an image's layers from the bottom up.
type imageScan struct {
	layers []Layer
	fs     *RootFS
	refs   []fileRef // by RootFS node ID
}

func newImageScan() *imageScan {
	return &imageScan{fs: NewRootFS(hasCapRecord)}
}

// newImageScanWatching also keeps the entries watch picks in the model (see
// NewRootFS), so that Lookup answers for them.
func newImageScanWatching(watch func(p string, hdr *tar.Header) bool) *imageScan {
	return &imageScan{fs: NewRootFS(func(p string, hdr *tar.Header) bool {
		return hasCapRecord(p, hdr) || watch(p, hdr)
	})}
}

func hasCapRecord(_ string, hdr *tar.Header) bool {
	if _, ok := hdr.PAXRecords[caps.PAXRecordKey]; ok {
		return true
	}
	_, ok := hdr.PAXRecords[libarchiveKey]
	return ok
}

// layer scans the next layer, whose index is idx (== len(s.layers)).
// ShadowedBy is set by finish.
func (s *imageScan) layer(r io.Reader, idx int, o *options) error {
	st, err := walk(r, s.entries(idx), func(x *options) { *x = *o })
	if err != nil {
		return err
	}
	l := &s.layers[idx]
	l.Digest, l.DiffID, l.MediaType = st.Digest, st.DiffID, st.MediaType()
	return nil
}

// entries starts layer idx (== len(s.layers)) and returns the WalkFunc that
// replays its entries.
func (s *imageScan) entries(idx int) WalkFunc {
	s.layers = append(s.layers, Layer{Index: idx})
	return func(p string, hdr *tar.Header) error {
		added, err := s.fs.add(p, hdr, idx)
		if err != nil {
			return err
		}
		if added.ID < 0 {
			return nil
		}
		f, ok := fileFromHeader(p, hdr)
		if !ok && added.LinkTo >= 0 {
			// A hard link shares the inode, so its target's xattr applies.
			ref := s.refs[added.LinkTo]
			f = s.layers[ref.layer].Files[ref.file]
			f.Path, f.Type, f.Link = p, "hardlink", path.Clean("/"+hdr.Linkname)
			ok = true
		}
		if !ok {
			return nil
		}
		f.Layer, f.ShadowedBy, f.FinalPath = idx, -1, added.Path
		l := &s.layers[idx]
		l.Files = append(l.Files, f)
		for len(s.refs) <= added.ID {
			s.refs = append(s.refs, fileRef{-1, -1})
		}
		s.refs[added.ID] = fileRef{idx, len(l.Files) - 1}
		return nil
	}
}

// finish records which files the final filesystem holds.
func (s *imageScan) finish() []Layer {
	for id, ref := range s.refs {
		if ref.layer >= 0 {
			s.layers[ref.layer].Files[ref.file].ShadowedBy = s.fs.HiddenBy(id)
		}
	}
	return s.layers
}

// FileFromHeader returns the File for the entry at the clean path p (as
// Walk passes it) if its header carries a security.capability record. Layer
// and ShadowedBy are left zero.
func FileFromHeader(p string, hdr *tar.Header) (File, bool) {
	return fileFromHeader(p, hdr)
}

func fileFromHeader(p string, hdr *tar.Header) (File, bool) {
	raw, ok := hdr.PAXRecords[caps.PAXRecordKey]
	var invalid string
	if !ok {
		b64, ok2 := hdr.PAXRecords[libarchiveKey]
		if !ok2 {
			return File{}, false
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			invalid = fmt.Sprintf("%s is not base64: %v", libarchiveKey, err)
		}
		raw = string(b)
	}
	f := File{
		Path: p,
		Mode: hdr.Mode & 0o7777,
		UID:  hdr.Uid,
		GID:  hdr.Gid,
		Size: hdr.Size,
		Link: hdr.Linkname,
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont:
		f.Type = "file"
	case tar.TypeLink:
		f.Type = "hardlink"
	case tar.TypeDir:
		f.Type = "dir"
	case tar.TypeSymlink:
		f.Type = "symlink"
	default:
		f.Type = "other"
	}
	if f.Type == "file" || f.Type == "dir" {
		f.Link = ""
	}
	// The value is binary and starts with a NUL byte for =p (magic
	// 0x02000000 little-endian): it is copied as bytes, never as a C string.
	if len(raw) > maxRawValue {
		f.Raw = []byte(raw[:maxRawValue])
		if invalid == "" {
			invalid = fmt.Sprintf("value is %d bytes, longer than any vfs_cap_data (at most 24)", len(raw))
		}
	} else {
		f.Raw = []byte(raw)
	}
	if invalid == "" {
		x, err := caps.Decode(f.Raw)
		if err != nil {
			invalid = err.Error()
		} else {
			f.Xattr = x
		}
	}
	f.Invalid = invalid
	return f, true
}
