package image

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// node is one path of the filesystem an image unpacks to.
type node struct {
	typ      byte // tar typeflag; hard links are stored as regular files
	mode     int64
	link     string // symlink target
	layer    int    // layer that last wrote the node
	children map[string]*node
}

// rootFS replays layers the way container runtimes unpack them (whiteouts
// hide lower layers only; a parent directory that is a symlink is followed)
// to answer "what is at this path in the final filesystem".
type rootFS struct {
	root *node
}

func newRootFS() *rootFS {
	return &rootFS{root: &node{typ: tar.TypeDir, mode: 0o755, layer: -1, children: map[string]*node{}}}
}

func split(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// maxLinks bounds symlink resolution, as the kernel's MAXSYMLINKS.
const maxLinks = 40

// resolve follows p (absolute) through symlinks inside the root filesystem
// and returns the node and its resolved path. With follow false the last
// element is not followed. Missing paths return nil.
func (fs *rootFS) resolve(p string, follow bool) (*node, string, error) {
	links := 0
	var walk func(cur *node, curPath string, rest []string) (*node, string, error)
	walk = func(cur *node, curPath string, rest []string) (*node, string, error) {
		for i, el := range rest {
			if el == "." {
				continue
			}
			if el == ".." {
				// Runtimes clamp ".." at the root (securejoin).
				curPath = path.Dir(curPath)
				n, rp, err := fs.resolve(curPath, true)
				if err != nil || n == nil {
					return nil, "", err
				}
				cur, curPath = n, rp
				continue
			}
			if cur.typ != tar.TypeDir {
				return nil, "", nil
			}
			next, ok := cur.children[el]
			if !ok {
				return nil, "", nil
			}
			nextPath := path.Join(curPath, el)
			last := i == len(rest)-1
			if next.typ == tar.TypeSymlink && (!last || follow) {
				links++
				if links > maxLinks {
					return nil, "", fmt.Errorf("too many levels of symbolic links resolving %s", p)
				}
				target := next.link
				base := curPath
				if strings.HasPrefix(target, "/") {
					base = "/"
				}
				n, rp, err := walk(fs.root, "/", split(path.Join(base, target)))
				if err != nil || n == nil {
					return nil, "", err
				}
				// The joined target is already clean: re-walk from the
				// root is exact because path.Join clamps ".." at "/".
				cur, curPath = n, rp
				continue
			}
			cur, curPath = next, nextPath
		}
		return cur, curPath, nil
	}
	return walk(fs.root, "/", split(p))
}

// dirFor returns the directory node in which an entry named p is created,
// creating missing parents as directories, and following parents that are
// symlinks.
func (fs *rootFS) dirFor(p string, layer int) (*node, string) {
	cur, curPath := fs.root, "/"
	els := split(path.Dir(p))
	for _, el := range els {
		next, ok := cur.children[el]
		nextPath := path.Join(curPath, el)
		if ok && next.typ == tar.TypeSymlink {
			if n, rp, err := fs.resolve(nextPath, true); err == nil && n != nil && n.typ == tar.TypeDir {
				cur, curPath = n, rp
				continue
			}
		}
		if !ok || next.typ != tar.TypeDir {
			next = &node{typ: tar.TypeDir, mode: 0o755, layer: layer, children: map[string]*node{}}
			cur.children[el] = next
		}
		cur, curPath = next, nextPath
	}
	return cur, curPath
}

// apply adds one layer entry (p clean and absolute) of layer number layer.
func (fs *rootFS) apply(p string, hdr *tar.Header, layer int) {
	if p == "/" {
		return
	}
	kind, target := inspect.Whiteout(p)
	switch kind {
	case inspect.WhiteoutMeta:
		return
	case inspect.WhiteoutRemove:
		if parent, _, _ := fs.resolve(path.Dir(target), true); parent != nil && parent.typ == tar.TypeDir {
			if n, ok := parent.children[path.Base(target)]; ok && n.layer < layer {
				delete(parent.children, path.Base(target))
			}
		}
		return
	case inspect.WhiteoutOpaque:
		if d, _, _ := fs.resolve(target, true); d != nil && d.typ == tar.TypeDir {
			prune(d, layer)
		}
		return
	}
	dir, _ := fs.dirFor(p, layer)
	base := path.Base(p)
	typ := hdr.Typeflag
	switch typ {
	case tar.TypeRegA, tar.TypeLink, tar.TypeCont:
		typ = tar.TypeReg
	}
	mode := hdr.Mode & 0o7777
	if hdr.Typeflag == tar.TypeLink {
		if t, err := inspect.CleanName(hdr.Linkname); err == nil {
			if n, _, _ := fs.resolve(t, false); n != nil {
				typ, mode = n.typ, n.mode
			}
		}
	}
	if old, ok := dir.children[base]; ok && old.typ == tar.TypeDir && typ == tar.TypeDir {
		old.mode, old.layer = mode, layer
		return
	}
	n := &node{typ: typ, mode: mode, link: hdr.Linkname, layer: layer}
	if typ == tar.TypeDir {
		n.children = map[string]*node{}
	}
	dir.children[base] = n
}

// prune removes what lower layers put below d (an opaque whiteout).
func prune(d *node, layer int) {
	for name, c := range d.children {
		if c.layer < layer {
			delete(d.children, name)
		} else if c.typ == tar.TypeDir {
			prune(c, layer)
		}
	}
}
