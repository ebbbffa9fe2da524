// This file finds files of an image's final filesystem, reading its layers
// from the top down and stopping at the lowest layer that decides them: what
// copy-up layers (capslayer layer --from-image) copy.

package inspect

import (
	"archive/tar"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
)

// Located is a regular file of an image's final filesystem and the layer
// entry that holds its bytes.
type Located struct {
	// Path is the path asked for, absolute and clean.
	Path string
	// Resolved is where the file is in the final filesystem: Path with the
	// symlinks of its parent directories resolved. Every parent of
	// Resolved is a directory.
	Resolved string
	// Layer is the index (0 = bottom) of the layer whose entry is the file,
	// and Entry the index of that entry in the layer's tar (0 = first).
	Layer, Entry int
	// Header is that entry's header. For a hard link (tar.TypeLink) the
	// bytes, mode and owner are those of DataPath's entry.
	Header *tar.Header
	// DataPath is the entry name (absolute, clean) whose data the file
	// has: the entry's own, or a hard link's target, which is an earlier
	// entry of the same layer.
	DataPath string
	// Dirs are the parent directories of Resolved, outermost first, with
	// the mode, owner and mtime of the entry that last wrote each; a
	// directory that no layer wrote (runtimes create it) is 0755 and
	// root-owned.
	Dirs []*tar.Header
}

// Location is what Locate found.
type Location struct {
	Files []Located
	// Searched are the layers read, top first: Locate stops at the
	// lowest layer that decides every path.
	Searched []int
}

// ErrLocate is matched (errors.Is) by every error of Locate about a path
// that is not a regular file of the image: a *LocateError.
var ErrLocate = errors.New("cannot locate the file in the image")

// LocateError is a path Locate cannot give a file for.
type LocateError struct {
	Path    string // as asked
	Problem string // what the image holds there and what to do
}

func (e *LocateError) Error() string        { return e.Path + ": " + e.Problem }
func (e *LocateError) Is(target error) bool { return target == ErrLocate }

// maxRecords bounds the entries Locate keeps across the layers it reads
// (those whose names can matter for the paths asked); each costs about 300
// bytes.
const maxRecords = 1 << 16

// maxRestarts bounds how often Locate starts again from the top layer
// because a symlink of a lower layer named a directory that upper layers
// mention under a name it had not kept.
const maxRestarts = 8

// Locate finds each path of paths in the final filesystem of img, as a
// runtime unpacks its layers: whiteouts and opaque directories applied,
// symlinks in parent directories followed inside the image root. It reads
// the layers from the top down, checking each against its digest and diff
// ID, keeps only the entries whose names can matter (bounded memory, nothing
// written anywhere) and stops at the lowest layer that decides every path:
// the layer holding the file, when the entries of that layer and the
// layers above it name its parent directories.
//
// A path that is missing, deleted by a whiteout, a directory, a symlink
// (the error names its target) or another non-regular file is an error
// wrapping ErrLocate.
func Locate(img v1.Image, paths []string, opts ...Option) (_ *Location, err error) {
	defer errprefix.Add(&err, "inspect")
	return locate(img, paths, nil, makeOptions(opts))
}

// LocateFunc is called by LocateStream for every entry of the layers it
// reads, in the order read: layer is the layer's index, entry the entry's
// index in it, name its clean path and data its bytes, which fn may read
// during the call. found is not nil when the entry is, as far as the layers
// read so far and the entries of this layer before it tell, the file at one
// of the paths: the layers above do not hide it and they and this layer's
// earlier entries name its parent directories. Only the Location returned
// at the end is certain: a later entry of the layer may still replace the
// file or one of its directories. An error of fn stops LocateStream with
// that error. After a restart (a lower layer's symlink named an entry not
// kept), the layers are read again from the top: layer grows again.
type LocateFunc func(layer, entry int, name string, hdr *tar.Header, data io.Reader, found *Located) error

// LocateStream is Locate that lets fn see each entry as it is read, so
// that a caller can copy the file's bytes in the same pass that finds it.
func LocateStream(img v1.Image, paths []string, fn LocateFunc, opts ...Option) (_ *Location, err error) {
	var fnErr error
	defer func() {
		if fnErr != nil && errors.Is(err, fnErr) {
			err = fnErr // the caller's, as it is
			return
		}
		errprefix.Add(&err, "inspect")
	}()
	return locate(img, paths, func(layer, entry int, name string, hdr *tar.Header, data io.Reader, found *Located) error {
		fnErr = fn(layer, entry, name, hdr, data, found)
		return fnErr
	}, makeOptions(opts))
}

func locate(img v1.Image, paths []string, fn LocateFunc, o *options) (*Location, error) {
	if len(paths) == 0 {
		return nil, errors.New("no path to locate")
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" {
			return nil, fmt.Errorf("path %q is not absolute and clean: give the file's path in the image, e.g. /usr/bin/ping", p)
		}
	}
	layers, diffIDs, err := imageLayers(img, o)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, errors.New("the image has no layers")
	}
	l := &locator{names: map[string]bool{}}
	for _, p := range paths {
		l.addNames(p)
	}
	for attempt := 0; ; attempt++ {
		loc, err := l.run(img, layers, diffIDs, paths, fn, o)
		if err != nil || loc != nil {
			return loc, err
		}
		if attempt == maxRestarts {
			return nil, fmt.Errorf("%w: symlinks of lower layers named directories of upper layers %d times; the image's symlinks chain too deep to locate %s", ErrLimit, maxRestarts, strings.Join(paths, ", "))
		}
	}
}

// rec is an entry kept from a layer: what the replay and the copy need of
// its header.
type rec struct {
	p        string
	typeflag byte
	linkname string
	mode     int64
	uid, gid int
	mtime    int64
	size     int64
	pax      map[string]string // files only
	entry    int
}

func (r *rec) header() *tar.Header {
	return &tar.Header{
		Typeflag:   r.typeflag,
		Name:       r.p,
		Linkname:   r.linkname,
		Size:       r.size,
		Mode:       r.mode,
		Uid:        r.uid,
		Gid:        r.gid,
		ModTime:    time.Unix(r.mtime, 0),
		PAXRecords: r.pax,
	}
}

type locator struct {
	// names are the names (path components) a file entry must have to be
	// kept: those of the paths asked and of the targets of the kept
	// symlinks that have such a name. Directories and symlinks are all
	// kept, so that where an entry lands is known.
	names map[string]bool
	// dropped holds the names of the entries not kept. A name added to
	// names later that is in dropped means an entry that mattered may have
	// been dropped: restart is set and the layers are read again.
	dropped bloom
	restart bool
	recs    [][]rec
	nrecs   int
	// links are the kept symlinks by name, whose targets' names join names
	// when their own name does.
	links map[string][]string
}

// addNames adds the components of a path or symlink target to l.names,
// and the names of the targets of the symlinks so named.
func (l *locator) addNames(p string) {
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." || l.names[el] {
			continue
		}
		l.names[el] = true
		if l.dropped.has(el) {
			l.restart = true
		}
		for _, t := range l.links[el] {
			l.addNames(t)
		}
	}
}

// keep records the entry p of layer j if it can matter.
func (l *locator) keep(j, entry int, p string, hdr *tar.Header) error {
	if p == "/" {
		return nil
	}
	var names []string
	switch kind, target := Whiteout(p); {
	case kind == WhiteoutMeta:
		return nil
	case kind == WhiteoutRemove:
		names = []string{path.Base(target)}
	case kind == WhiteoutOpaque || hdr.Typeflag == tar.TypeDir || hdr.Typeflag == tar.TypeSymlink:
		// always kept
	default:
		names = []string{path.Base(p)}
		if hdr.Typeflag == tar.TypeLink {
			names = append(names, path.Base(path.Clean("/"+hdr.Linkname)))
		}
	}
	kept := len(names) == 0
	for _, n := range names {
		kept = kept || l.names[n]
	}
	if !kept {
		for _, n := range names {
			l.dropped.add(n)
		}
		return nil
	}
	if l.nrecs++; l.nrecs > maxRecords {
		return fmt.Errorf("%w: more than %d directories, symlinks and entries named like the paths asked in the layers read", ErrLimit, maxRecords)
	}
	r := rec{p: p, typeflag: hdr.Typeflag, linkname: hdr.Linkname, size: hdr.Size, mode: hdr.Mode,
		uid: hdr.Uid, gid: hdr.Gid, mtime: hdr.ModTime.Unix(), entry: entry}
	if hdr.Typeflag != tar.TypeDir && hdr.Typeflag != tar.TypeSymlink {
		r.pax = hdr.PAXRecords
	}
	l.recs[j] = append(l.recs[j], r)
	if hdr.Typeflag == tar.TypeSymlink {
		base := path.Base(p)
		if l.links == nil {
			l.links = map[string][]string{}
		}
		l.links[base] = append(l.links[base], hdr.Linkname)
		if l.names[base] {
			l.addNames(hdr.Linkname)
		}
	}
	return nil
}

// run reads the layers from the top down until every path is decided. It
// returns nil and no error when it must start again (l.restart).
func (l *locator) run(img v1.Image, layers []v1.Descriptor, diffIDs []v1.Hash, paths []string, fn LocateFunc, o *options) (*Location, error) {
	l.recs = make([][]rec, len(layers))
	l.nrecs, l.restart, l.dropped, l.links = 0, false, bloom{}, nil
	found := make([]*Located, len(paths))
	loc := &Location{}
	for j := len(layers) - 1; j >= 0; j-- {
		entry := 0
		_, err := readLayer(img, j, layers[j], diffIDs[j], func(p string, hdr *tar.Header, data io.Reader) error {
			defer func() { entry++ }()
			n := len(l.recs[j])
			if err := l.keep(j, entry, p, hdr); err != nil {
				return err
			}
			if fn == nil {
				return nil
			}
			var found *Located
			if len(l.recs[j]) > n && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA || hdr.Typeflag == tar.TypeLink) {
				for _, q := range paths {
					if path.Base(q) != path.Base(p) {
						continue
					}
					// Errors here are provisional too: the end of the
					// layer decides.
					if f, err := l.decide(j, len(layers), q, loc.Searched, layers); err == nil && f != nil && f.Layer == j && f.Entry == entry {
						found = f
						break
					}
				}
			}
			return fn(j, entry, p, hdr, data, found)
		}, o)
		if err != nil {
			return nil, err
		}
		loc.Searched = append(loc.Searched, j)
		if l.restart {
			return nil, nil
		}
		done := true
		for i, p := range paths {
			if found[i] != nil {
				continue
			}
			f, err := l.decide(j, len(layers), p, loc.Searched, layers)
			if err != nil {
				return nil, err
			}
			found[i] = f
			done = done && f != nil
		}
		if done {
			break
		}
	}
	for _, f := range found {
		loc.Files = append(loc.Files, *f)
	}
	return loc, nil
}

// deletion is a whiteout replayed by decide.
type deletion struct {
	at     string // the path removed, or the directory emptied (opaque)
	opaque bool
	layer  int
	name   string // the whiteout entry
}

// decide replays the kept entries of layers j to n-1 and returns p's file
// if they decide it: if no layer below j can change what p is. It returns
// nil, nil if they do not.
func (l *locator) decide(j, n int, p string, searched []int, layers []v1.Descriptor) (*Located, error) {
	fs := NewRootFS(nil)
	var byID []*rec
	var dels []deletion
	// known reports whether resolving q (follow: its last component too)
	// steps only on entries of the layers replayed: then no layer below j
	// can change where it leads.
	known := func(q string, follow bool) (bool, error) {
		ok := true
		_, _, _, err := fs.resolveVisit(q, follow, func(_ string, nd *fsNode) {
			ok = ok && nd != nil && nd.ID >= 0
		})
		return ok, err
	}
	for L := j; L < n; L++ {
		for i := range l.recs[L] {
			r := &l.recs[L][i]
			kind, target := Whiteout(r.p)
			if j > 0 {
				dir := path.Dir(r.p)
				if kind == WhiteoutOpaque {
					dir = target
				}
				if ok, err := known(dir, true); err != nil || !ok {
					return nil, err // placed by what a lower layer holds
				}
			}
			switch kind {
			case WhiteoutRemove:
				rd, _, _, err := fs.resolve(path.Dir(target), true)
				if err != nil {
					return nil, err
				}
				dels = append(dels, deletion{at: path.Join(rd, path.Base(target)), layer: L, name: r.p})
			case WhiteoutOpaque:
				rd, _, _, err := fs.resolve(target, true)
				if err != nil {
					return nil, err
				}
				dels = append(dels, deletion{at: rd, opaque: true, layer: L, name: r.p})
			}
			added, err := fs.add(r.p, r.header(), L)
			if err != nil {
				return nil, fmt.Errorf("layer %d: %w", L, err)
			}
			if added.ID >= 0 {
				for len(byID) <= added.ID {
					byID = append(byID, nil)
				}
				byID[added.ID] = r
			}
		}
	}

	// Walk p, stopping at the first component the replay does not hold.
	type step struct {
		at string
		nd *fsNode
	}
	var steps []step
	rp, nd, _, err := fs.resolveVisit(p, false, func(at string, nd *fsNode) {
		steps = append(steps, step{at, nd})
	})
	if err != nil {
		return nil, &LocateError{Path: p, Problem: err.Error()}
	}
	fail := func(format string, args ...any) (*Located, error) {
		return nil, &LocateError{Path: p, Problem: fmt.Sprintf(format, args...)}
	}
	for i, s := range steps {
		if s.nd != nil {
			if s.nd.ID < 0 && j > 0 {
				return nil, nil // a directory only implied here: a lower layer may hold it
			}
			if i < len(steps)-1 && s.nd.Type != tar.TypeDir && s.nd.Type != tar.TypeSymlink {
				return fail("%s is %s in layer %d, not a directory, so the image has no %s", printable.String(s.at), nodeKind(s.nd), s.nd.Layer, p)
			}
			continue
		}
		// Nothing here: removed by a whiteout of the layers replayed, or
		// not in them.
		for k := len(dels) - 1; k >= 0; k-- {
			d := dels[k]
			if (!d.opaque && d.at == s.at) || (d.opaque && d.at == path.Dir(s.at)) {
				what := "removed"
				if d.opaque {
					what = "hidden (its directory is opaque)"
				}
				return fail("%s is %s by the whiteout %s in layer %d (%s): the final filesystem has no such file; name a file the image still holds", printable.String(s.at), what, printable.String(d.name), d.layer, layers[d.layer].Digest)
			}
		}
		if j > 0 {
			return nil, nil
		}
		if s.at == rp {
			return fail("is not in the image's final filesystem (searched layers %s, top first): check the path, as `capslayer inspect` or `tar -tvf` on a layer lists it", layerList(searched))
		}
		return fail("is not in the image's final filesystem: %s does not exist (searched layers %s, top first)", printable.String(s.at), layerList(searched))
	}
	switch nd.Type {
	case tar.TypeReg:
	case tar.TypeDir:
		return fail("is a directory in the image (layer %d): name a regular file", nd.Layer)
	case tar.TypeSymlink:
		target := nd.Link
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(rp), target)
		}
		return fail("is a symlink to %q in the image (layer %d): name the file it points to, %s", nd.Link, nd.Layer, printable.String(target))
	default:
		return fail("is %s in the image (layer %d), not a regular file", nodeKind(nd), nd.Layer)
	}
	r := byID[nd.ID]
	f := &Located{Path: p, Resolved: rp, Layer: nd.Layer, Entry: r.entry, DataPath: r.p, Header: r.header()}
	if r.typeflag == tar.TypeLink {
		f.DataPath = path.Clean("/" + r.linkname)
	}
	for d := path.Dir(rp); d != "/"; d = path.Dir(d) {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}
		if dn, _, ok, _ := fs.Lookup(d, false); ok && dn.ID >= 0 {
			dr := byID[dn.ID]
			h.Mode, h.Uid, h.Gid, h.ModTime = dr.mode&0o7777, dr.uid, dr.gid, time.Unix(dr.mtime, 0)
		}
		f.Dirs = append([]*tar.Header{h}, f.Dirs...)
	}
	return f, nil
}

// nodeKind names a node's type for messages.
func nodeKind(n *fsNode) string {
	switch n.Type {
	case tar.TypeReg:
		return "a regular file"
	case tar.TypeDir:
		return "a directory"
	case tar.TypeSymlink:
		return "a symlink"
	case tar.TypeChar:
		return "a character device"
	case tar.TypeBlock:
		return "a block device"
	case tar.TypeFifo:
		return "a named pipe"
	}
	return fmt.Sprintf("an entry of type %q", n.Type)
}

// layerList prints layer indexes, top first: "3, 2, 1".
func layerList(ls []int) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = fmt.Sprint(l)
	}
	return strings.Join(s, ", ")
}

// bloom is a set of names that may answer "maybe" for a name never added:
// 2^20 bits (128 KiB), two probes.
type bloom struct{ bits []uint64 }

func (b *bloom) probes(s string) (uint32, uint32) {
	h := fnv.New64a()
	h.Write([]byte(s))
	v := h.Sum64()
	return uint32(v) & (1<<20 - 1), uint32(v>>32) & (1<<20 - 1)
}

func (b *bloom) add(s string) {
	if b.bits == nil {
		b.bits = make([]uint64, 1<<20/64)
	}
	x, y := b.probes(s)
	b.bits[x/64] |= 1 << (x % 64)
	b.bits[y/64] |= 1 << (y % 64)
}

func (b *bloom) has(s string) bool {
	if b.bits == nil {
		return false
	}
	x, y := b.probes(s)
	return b.bits[x/64]&(1<<(x%64)) != 0 && b.bits[y/64]&(1<<(y%64)) != 0
}
