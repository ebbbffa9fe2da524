package image

import (
	"archive/tar"
	"fmt"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// replay follows the entries of an image's layers, bottom layer first, into
// the filesystem model, and collects the capability files of each layer. It
// keeps nothing per entry besides what the model keeps: the capability
// files, and the paths of the current layer's capability files (for hard
// links to them).
type replay struct {
	fs *rootFS
	// layers holds the capability files of each layer, by layer index, in
	// archive order.
	layers [][]inspect.File
	// cur maps the paths of the current layer's capability files to their
	// index in layers[idx]: a hard link to one carries its capabilities
	// (the kernel keeps xattrs per inode).
	cur map[string]int
}

func newReplay() *replay { return &replay{fs: newRootFS()} }

// layer returns the inspect.WalkFunc that replays layer number idx; call it
// for each layer in order.
func (r *replay) layer(idx int) inspect.WalkFunc {
	for len(r.layers) <= idx {
		r.layers = append(r.layers, nil)
	}
	r.cur = map[string]int{}
	return func(name string, hdr *tar.Header) error {
		r.fs.apply(name, hdr, idx)
		f, ok := inspect.FileFromHeader(name, hdr)
		if !ok && hdr.Typeflag == tar.TypeLink {
			if t, err := inspect.CleanName(hdr.Linkname); err == nil {
				if i, found := r.cur[t]; found {
					f = r.layers[idx][i]
					f.Path, f.Type, f.Link = name, "hardlink", t
					ok = true
				}
			}
		}
		if !ok {
			delete(r.cur, name)
			return nil
		}
		f.Layer, f.ShadowedBy = idx, -1
		r.layers[idx] = append(r.layers[idx], f)
		r.cur[name] = len(r.layers[idx]) - 1
		return nil
	}
}

// files returns the capability files of all layers, bottom layer first.
func (r *replay) files() []inspect.File {
	var fs []inspect.File
	for _, l := range r.layers {
		fs = append(fs, l...)
	}
	return fs
}

// finalPath returns the path of f in the final filesystem (its parent
// symlinks resolved), or "" when a later layer (or a later entry of its
// own layer) overwrote or removed it.
func (r *replay) finalPath(f inspect.File) string {
	n, rp, err := r.fs.resolve(f.Path, false)
	if err != nil || n == nil || n.layer != f.Layer || n.typ != tar.TypeReg {
		return ""
	}
	return rp
}

// label returns the imagemeta.LabelCapabilities value: the capability
// files of the final filesystem.
func (r *replay) label() string {
	c := imagemeta.Capabilities{}
	for _, l := range r.layers {
		for _, f := range l {
			if p := r.finalPath(f); p != "" {
				c[p] = imagemeta.Text(f.Raw)
			}
		}
	}
	return c.Encode()
}

// annotations returns the annotations of layer idx's descriptor: the
// imagemeta.AnnotationCapabilities of its capability files, or nil for a
// layer without any.
func (r *replay) annotations(idx int) map[string]string {
	if len(r.layers[idx]) == 0 {
		return nil
	}
	c := imagemeta.Capabilities{}
	for _, f := range r.layers[idx] {
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
		for _, f := range l {
			if r.finalPath(f) == "" {
				ws = append(ws, fmt.Sprintf("the file capabilities of %s (layer %d) are hidden by a later layer", f.Path, f.Layer))
			}
		}
	}
	return ws
}
