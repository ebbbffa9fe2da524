package inspect

import "archive/tar"

// Scanner replays the layers of an image that its caller walks itself
// (capslayer image computes the digests of its layer files while it reads
// them) into the one filesystem model, and collects their capability files
// exactly as Path and Scan report them.
type Scanner struct {
	s *imageScan
}

// NewScanner returns a Scanner. watch, when not nil, picks entries to keep
// in the model besides the capability files and symlinks, so that Lookup
// answers for them (image keeps the entries that may be its entrypoint);
// everything else is forgotten, and memory does not grow with the number
// of entries.
func NewScanner(watch func(p string, hdr *tar.Header) bool) *Scanner {
	if watch == nil {
		return &Scanner{s: newImageScan()}
	}
	return &Scanner{s: newImageScanWatching(watch)}
}

// Layer starts the next layer, bottom first, and returns the WalkFunc to
// walk it with. Layer.Digest, DiffID and MediaType are left to the caller.
func (sc *Scanner) Layer() WalkFunc { return sc.s.entries(len(sc.s.layers)) }

// Files returns the capability files of layer idx so far, in archive
// order, without ShadowedBy (see Finish).
func (sc *Scanner) Files(idx int) []File { return sc.s.layers[idx].Files }

// Lookup answers what the final filesystem holds at p, as RootFS.Lookup,
// for the capability files, the watched entries and symlinks.
func (sc *Scanner) Lookup(p string, follow bool) (Node, string, bool, error) {
	return sc.s.fs.Lookup(p, follow)
}

// Finish sets ShadowedBy on every file and returns the layers. Call it after
// the last layer.
func (sc *Scanner) Finish() []Layer { return sc.s.finish() }
