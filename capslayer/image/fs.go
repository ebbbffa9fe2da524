package image

import (
	"archive/tar"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// node is what the final filesystem holds at a path.
type node struct {
	typ   byte // tar typeflag; hard links are regular files
	mode  int64
	layer int // layer that last wrote the node
}

// rootFS is the final filesystem of the image, as inspect.RootFS models it
// for inspect and audit too, so that they agree on what is in it.
type rootFS struct {
	fs *inspect.RootFS
}

func newRootFS() *rootFS {
	return &rootFS{fs: inspect.NewRootFS(nil)}
}

// resolve returns the node at p (absolute) and its resolved path, following
// symlinks (with follow false, not at p itself). Missing paths return nil.
func (fs *rootFS) resolve(p string, follow bool) (*node, string, error) {
	n, rp, ok, err := fs.fs.Lookup(p, follow)
	if err != nil || !ok {
		return nil, "", err
	}
	return &node{typ: n.Type, mode: n.Mode, layer: n.Layer}, rp, nil
}

// apply adds one layer entry (p clean and absolute) of layer number layer.
// An entry the runtime could not unpack either (a symlink loop in its
// parents) is left out.
func (fs *rootFS) apply(p string, hdr *tar.Header, layer int) {
	_, _ = fs.fs.Add(p, hdr, layer)
}
