package image

import (
	"archive/tar"
	"fmt"
	"path"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// replay reads every layer of the image, bottom first, into the one
// filesystem model (tarfs.Scanner), which collects the capability files of
// each layer as inspect reports them. The model keeps
// only the capability files, symlinks, the directories above them, and the
// entries whose base name is in names (the candidates for the entrypoint):
// memory does not grow with the number of entries.
type replay struct {
	sc     *tarfs.Scanner
	layers []tarfs.Layer // set by read
	// added are the --layer files, opened (digests computed) while read.
	added []*fileLayer
}

// readLayers replays the base layers (checking their digests) and the layer
// files of o.
func readLayers(o Options, base []v1.Layer, names map[string]bool) (*replay, error) {
	var watch func(string, *tar.Header) bool
	if len(names) > 0 {
		// An entry lands at its name's base name, whatever the symlinks of
		// its parent directories: watching base names is exact.
		watch = func(p string, _ *tar.Header) bool { return names[path.Base(p)] }
	}
	r := &replay{sc: tarfs.NewScanner(watch)}
	for i, l := range base {
		if err := replayBaseLayer(r.sc.Layer(), l); err != nil {
			return nil, fmt.Errorf("base %s: layer %d: %w", o.Base, i, err)
		}
	}
	for _, p := range o.Layers {
		l, err := openLayer(o.FS, p, r.sc.Layer())
		if err != nil {
			return nil, err
		}
		r.added = append(r.added, l)
	}
	r.layers = r.sc.Finish()
	return r, nil
}

// files returns the capability files of all layers, bottom layer first.
func (r *replay) files() []tarfs.File {
	var fs []tarfs.File
	for _, l := range r.layers {
		fs = append(fs, l.Files...)
	}
	return fs
}

// label returns the imagemeta.LabelCapabilities value: the capability
// files of the final filesystem, by their path there.
func (r *replay) label() string {
	c := imagemeta.Capabilities{}
	for _, l := range r.layers {
		for _, f := range l.Files {
			if f.Visible() {
				c[f.FinalPath] = imagemeta.Text(f.Raw)
			}
		}
	}
	return c.Encode()
}

// annotations returns the annotations of layer idx's descriptor: the
// imagemeta.AnnotationCapabilities of its capability files, or nil for a
// layer without any.
func (r *replay) annotations(idx int) map[string]string {
	files := r.layers[idx].Files
	if len(files) == 0 {
		return nil
	}
	c := imagemeta.Capabilities{}
	for _, f := range files {
		c[f.Path] = imagemeta.Text(f.Raw) // a later entry at the same path wins, as in the tar
	}
	return map[string]string{imagemeta.AnnotationCapabilities: c.Encode()}
}

// shadowWarnings names the capability files of the layers from first on
// that the final filesystem does not hold: a later layer overwrote or
// removed them.
func (r *replay) shadowWarnings(first int) []string {
	var ws []string
	for _, l := range r.layers[first:] {
		for _, f := range l.Files {
			if !f.Visible() {
				ws = append(ws, fmt.Sprintf("the file capabilities of %s (layer %d) are hidden by a later layer", f.FinalPath, f.Layer))
			}
		}
	}
	return ws
}
