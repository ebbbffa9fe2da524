package inspect

import (
	"archive/tar"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

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

// Image replays every layer of img, bottom first, with the checks of Scan
// (each blob against its manifest digest and size and its config diff ID,
// within the limits of opts), so that Lookup then answers for img's final
// filesystem. It is for a Scanner that has replayed no layer yet; call
// Finish for the capability files.
func (sc *Scanner) Image(img v1.Image, opts ...Option) (err error) {
	defer errprefix.Add(&err, "inspect")
	if len(sc.s.layers) != 0 {
		return fmt.Errorf("Scanner.Image: %d layers were replayed already", len(sc.s.layers))
	}
	return sc.s.image(img, makeOptions(opts))
}

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
