package tarfs

import (
	"archive/tar"
	"path"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

// Scanner replays the layers of an image, bottom first, into the one
// filesystem model (rootFS) and collects their capability files, each
// with the layer that overwrote or removed it: what capslayer inspect
// reports. Its caller walks each layer (Walk, or a reader that checks the
// layer against its image, as package inspect's Scan).
type Scanner struct {
	layers []Layer
	fs     *rootFS
	refs   []fileRef // by rootFS node ID
}

// fileRef locates a File in a Scanner.
type fileRef struct{ layer, file int }

// NewScanner returns a Scanner. watch, when not nil, picks entries to keep
// in the model besides the capability files and symlinks, so that Lookup
// answers for them (image keeps the entries that may be its entrypoint);
// everything else is forgotten, and memory does not grow with the number
// of entries.
func NewScanner(watch func(p string, hdr *tar.Header) bool) *Scanner {
	if watch == nil {
		return &Scanner{fs: newRootFS(hasCapRecord)}
	}
	return &Scanner{fs: newRootFS(func(p string, hdr *tar.Header) bool {
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

// Layer starts the next layer, bottom first, and returns the WalkFunc to
// walk it with. Layer.Digest, DiffID and MediaType are left to the caller.
func (sc *Scanner) Layer() WalkFunc {
	idx := len(sc.layers)
	sc.layers = append(sc.layers, Layer{Index: idx})
	return func(p string, hdr *tar.Header) error {
		added, err := sc.fs.add(p, hdr, idx)
		if err != nil {
			return err
		}
		if added.ID < 0 {
			return nil
		}
		f, ok := fileFromHeader(p, hdr)
		if !ok && added.LinkTo >= 0 {
			// A hard link shares the inode, so its target's xattr applies.
			ref := sc.refs[added.LinkTo]
			f = sc.layers[ref.layer].Files[ref.file]
			f.Path, f.Type, f.Link = p, "hardlink", path.Clean("/"+hdr.Linkname)
			ok = true
		}
		if !ok {
			return nil
		}
		f.Layer, f.ShadowedBy, f.FinalPath = idx, -1, added.Path
		l := &sc.layers[idx]
		l.Files = append(l.Files, f)
		for len(sc.refs) <= added.ID {
			sc.refs = append(sc.refs, fileRef{-1, -1})
		}
		sc.refs[added.ID] = fileRef{idx, len(l.Files) - 1}
		return nil
	}
}

// Lookup answers what the final filesystem holds at p, as rootFS.lookup,
// for the capability files, the watched entries and symlinks.
func (sc *Scanner) Lookup(p string, follow bool) (Node, string, bool, error) {
	return sc.fs.lookup(p, follow)
}

// Finish sets ShadowedBy on every file and returns the layers. Call it after
// the last layer.
func (sc *Scanner) Finish() []Layer {
	for id, ref := range sc.refs {
		if ref.layer >= 0 {
			sc.layers[ref.layer].Files[ref.file].ShadowedBy = sc.fs.hiddenBy(id)
		}
	}
	return sc.layers
}
