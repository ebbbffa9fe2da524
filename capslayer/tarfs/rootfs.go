// This file is the one model of "what is in the final filesystem": Scanner
// asks it which capability files are visible and where an entrypoint
// leads, Locator which regular file a path names.

package tarfs

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// maxLinks bounds symlink resolution, as the kernel's MAXSYMLINKS.
const maxLinks = 40

// defaultMaxSymlinks is how many symlinks rootFS stores at once (the
// symlinks of all layers of an image, minus those removed). Each costs about
// 250 bytes: 65,536 keep the model within 16 MiB. Real images hold far fewer
// (a Debian or Fedora base holds 3,000 to 20,000); a layer of a million
// symlinks, which would take 250 MB, is an error instead.
const defaultMaxSymlinks = 1 << 16

// Node is what rootFS knows of one path of the final filesystem.
type Node struct {
	// Type is the tar type flag: tar.TypeDir, tar.TypeSymlink, tar.TypeReg
	// (hard links and contiguous files are regular files) or another
	// (device, FIFO).
	Type byte
	// Mode is the permission bits with setuid/setgid/sticky (mode & 07777);
	// a hard link has its target's.
	Mode int64
	// Link is the target of a symlink.
	Link string
	// Layer is the layer that last wrote the node.
	Layer int
	// ID numbers the watched nodes (those a Scanner keeps) in the order
	// they were added; -1 for the others.
	ID int
}

// addResult is what rootFS.add did with an entry.
type addResult struct {
	// ID is the watched node the entry became, or -1.
	ID int
	// LinkTo is, for a hard link to a watched node, that node's ID; else -1.
	LinkTo int
	// Path is, for a watched entry, where it landed: p with the symlinks
	// of its parent directories resolved as they were when it was added.
	Path string
}

type fsNode struct {
	Node
	kids map[string]*fsNode // directories only
}

// rootFS replays the entries of an image's layers, bottom layer first, the
// way container runtimes unpack them, to answer "what is at this path in the
// final filesystem?":
//
//   - a parent directory that is a symlink is followed (containerd's
//     fs.RootPath, runc's securejoin): an entry /lib/x under /lib -> usr/lib
//     is written at /usr/lib/x, and a whiteout /lib/.wh.x removes /usr/lib/x;
//     ".." in a symlink target stops at the root;
//   - an entry replaces what was at its path, and a non-directory also
//     removes what was below it, even in the same layer;
//   - whiteouts (.wh.NAME, .wh..wh..opq) remove only what lower layers put
//     there (OCI image spec, "Whiteouts").
//
// To stay small at millions of entries it stores only the watched entries
// (see newRootFS), every symlink, and the directories above them: an entry
// that is none of these is checked against what is stored and forgotten.
// Directories it does not store are taken to exist, as runtimes create
// missing parents.
type rootFS struct {
	root     *fsNode
	watch    func(p string, hdr *tar.Header) bool
	hidden   []int // by node ID: the layer that removed the node, or -1
	symlinks int   // stored now
	// maxSymlinks bounds the symlinks stored at once (defaultMaxSymlinks
	// from newRootFS); add fails with ErrLimit past it.
	maxSymlinks int
}

// newRootFS returns an empty filesystem. watch picks the entries to
// remember beyond symlinks; nil remembers every entry (then lookup answers
// for any path, at the cost of memory per entry). Hard links to a watched
// node are watched too.
func newRootFS(watch func(p string, hdr *tar.Header) bool) *rootFS {
	return &rootFS{root: &fsNode{Node: Node{Type: tar.TypeDir, Mode: 0o755, Layer: -1, ID: -1}, kids: map[string]*fsNode{}}, watch: watch, maxSymlinks: defaultMaxSymlinks}
}

// hiddenBy returns the layer that overwrote or removed the watched node id
// (a whiteout, an entry at its path, a non-directory at a parent path), or
// -1 if it is in the final filesystem.
func (fs *rootFS) hiddenBy(id int) int { return fs.hidden[id] }

// lookup returns the node at p (absolute) and its path with every symlink
// resolved; with follow false a symlink at p itself is not followed. found
// is false when nothing stored is there: with a watch function, that
// includes every path that was never watched.
func (fs *rootFS) lookup(p string, follow bool) (n Node, resolved string, found bool, err error) {
	defer errprefix.Add(&err, errPrefix)
	rp, fn, _, err := fs.resolve(path.Clean("/"+p), follow)
	if err != nil || fn == nil {
		return Node{}, rp, false, err
	}
	return fn.Node, rp, true, nil
}

// resolve follows the clean absolute path p through the stored symlinks. It
// returns p with its symlinks resolved, the stored node there (nil if none)
// and the stored directory that holds it (nil if none). It allocates only
// when it follows a symlink.
func (fs *rootFS) resolve(p string, follow bool) (string, *fsNode, *fsNode, error) {
	return fs.resolveVisit(p, follow, nil)
}

// resolveVisit is resolve calling visit with every node it steps on (nil
// where nothing is stored), the last one included, and the path of that
// node with the symlinks before it resolved.
func (fs *rootFS) resolveVisit(p string, follow bool, visit func(at string, n *fsNode)) (string, *fsNode, *fsNode, error) {
	links := 0
restart:
	cur := fs.root
	for i := 1; i < len(p); {
		end := strings.IndexByte(p[i:], '/')
		if end < 0 {
			end = len(p)
		} else {
			end += i
		}
		el, last := p[i:end], end == len(p)
		var next *fsNode
		if cur != nil {
			next = cur.kids[el]
		}
		if visit != nil {
			visit(p[:end], next)
		}
		if next != nil && next.Type == tar.TypeSymlink && (!last || follow) {
			if links++; links > maxLinks {
				return "", nil, nil, fmt.Errorf("too many levels of symbolic links resolving %s", p)
			}
			base := p[:i]
			if strings.HasPrefix(next.Link, "/") {
				base = "/"
			}
			p = path.Join(base, next.Link, p[end:])
			goto restart
		}
		if last {
			return p, next, cur, nil
		}
		if next != nil && next.Type != tar.TypeDir {
			next = nil // nothing is stored below a non-directory
		}
		cur = next
		i = end + 1
	}
	return "/", fs.root, nil, nil
}

// add applies the entry at p (clean and absolute, as Walk passes it) of
// layer number layer; layers must come bottom first, entries in archive
// order.
func (fs *rootFS) add(p string, hdr *tar.Header, layer int) (addResult, error) {
	res := addResult{ID: -1, LinkTo: -1}
	if p == "/" {
		return res, nil
	}
	switch kind, target := Whiteout(p); kind {
	case WhiteoutMeta:
		return res, nil
	case WhiteoutRemove:
		_, dir, _, err := fs.resolve(path.Dir(target), true)
		if err != nil {
			return res, fmt.Errorf("whiteout %s: %w", p, err)
		}
		if dir != nil && dir.Type == tar.TypeDir {
			fs.pruneLower(dir, path.Base(target), layer)
		}
		return res, nil
	case WhiteoutOpaque:
		_, dir, _, err := fs.resolve(target, true)
		if err != nil {
			return res, fmt.Errorf("whiteout %s: %w", p, err)
		}
		if dir != nil && dir.Type == tar.TypeDir {
			for name := range dir.kids {
				fs.pruneLower(dir, name, layer)
			}
		}
		return res, nil
	}

	dirPath, dir, _, err := fs.resolve(path.Dir(p), true)
	if err != nil {
		return res, fmt.Errorf("%s: %w", p, err)
	}
	base := path.Base(p)
	isDir := hdr.Typeflag == tar.TypeDir
	if dir != nil && dir.Type == tar.TypeDir {
		if old := dir.kids[base]; old != nil {
			if old.Type == tar.TypeDir && isDir {
				old.Mode, old.Layer = hdr.Mode&0o7777, layer
				if fs.watch == nil {
					// Remembering every entry: the directory is this
					// entry now, under a new ID (the old one is
					// overwritten by this layer).
					if old.ID >= 0 {
						fs.hidden[old.ID] = layer
					}
					old.ID = len(fs.hidden)
					fs.hidden = append(fs.hidden, -1)
					res.ID, res.Path = old.ID, path.Join(dirPath, base)
				}
				return res, nil
			}
			fs.remove(dir, base, layer)
		}
	}

	n := &fsNode{Node: Node{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, Layer: layer, ID: -1}}
	switch hdr.Typeflag {
	case tar.TypeRegA, tar.TypeCont:
		n.Type = tar.TypeReg
	case tar.TypeSymlink:
		n.Link = hdr.Linkname
	case tar.TypeDir:
		n.kids = map[string]*fsNode{}
	case tar.TypeLink:
		// A hard link is its target's inode: its type, mode and xattrs.
		n.Type = tar.TypeReg
		t, err := cleanName(hdr.Linkname)
		if err != nil {
			return res, fmt.Errorf("hard link %s: %w", p, err)
		}
		_, tn, _, err := fs.resolve(t, false)
		if err != nil {
			return res, fmt.Errorf("hard link %s: %w", p, err)
		}
		if tn != nil {
			n.Type, n.Mode = tn.Type, tn.Mode
			if n.Type == tar.TypeDir || n.Type == tar.TypeSymlink {
				n.Type = tar.TypeReg // no hard links to directories; a link to a symlink is a file here
			}
			if tn.ID >= 0 && fs.watch != nil {
				res.LinkTo = tn.ID
			}
		}
	}
	watched := fs.watch == nil || res.LinkTo >= 0 || fs.watch(p, hdr)
	if !watched && n.Type != tar.TypeSymlink {
		return res, nil
	}
	if n.Type == tar.TypeSymlink {
		if fs.symlinks >= fs.maxSymlinks {
			return res, fmt.Errorf("%w: more than %d symlinks in the image's filesystem (at %s)", ErrLimit, fs.maxSymlinks, p)
		}
		fs.symlinks++
	}
	if watched {
		n.ID = len(fs.hidden)
		fs.hidden = append(fs.hidden, -1)
		res.ID, res.Path = n.ID, path.Join(dirPath, base)
	}
	fs.mkdirAll(dirPath, layer).kids[base] = n
	return res, nil
}

// mkdirAll returns the stored directory at the resolved path dir, creating
// the missing ones and replacing non-directories in the way, as runtimes do.
func (fs *rootFS) mkdirAll(dir string, layer int) *fsNode {
	cur := fs.root
	for _, el := range strings.Split(strings.Trim(dir, "/"), "/") {
		if el == "" {
			continue
		}
		next := cur.kids[el]
		if next == nil || next.Type != tar.TypeDir {
			if next != nil {
				fs.remove(cur, el, layer)
			}
			next = &fsNode{Node: Node{Type: tar.TypeDir, Mode: 0o755, Layer: layer, ID: -1}, kids: map[string]*fsNode{}}
			cur.kids[el] = next
		}
		cur = next
	}
	return cur
}

// remove deletes dir's child name and everything below it: layer by
// removes them.
func (fs *rootFS) remove(dir *fsNode, name string, by int) {
	n := dir.kids[name]
	delete(dir.kids, name)
	fs.hide(n, by)
}

func (fs *rootFS) hide(n *fsNode, by int) {
	if n.ID >= 0 {
		fs.hidden[n.ID] = by
	}
	if n.Type == tar.TypeSymlink {
		fs.symlinks--
	}
	for _, k := range n.kids {
		fs.hide(k, by)
	}
}

// pruneLower removes what layers below layer put at dir's child name and
// below it; a directory stays if the current layer wrote in it.
func (fs *rootFS) pruneLower(dir *fsNode, name string, layer int) {
	n := dir.kids[name]
	if n == nil {
		return
	}
	if n.Type != tar.TypeDir {
		if n.Layer < layer {
			fs.remove(dir, name, layer)
		}
		return
	}
	for k := range n.kids {
		fs.pruneLower(n, k, layer)
	}
	if n.Layer < layer && len(n.kids) == 0 {
		fs.remove(dir, name, layer)
	}
}
