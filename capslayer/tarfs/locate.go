package tarfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"strings"
	"time"

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

// ErrLocate is matched (errors.Is) by every error of Locate about a path
// that is not a regular file of the image: a *locateError.
var ErrLocate = errors.New("cannot locate the file in the image")

// locateError is a path Locate cannot give a file for.
type locateError struct {
	Path    string // as asked
	Problem string // what the image holds there and what to do
}

func (e *locateError) Error() string        { return e.Path + ": " + e.Problem }
func (e *locateError) Is(target error) bool { return target == ErrLocate }

// maxRecords bounds the entries Locate keeps across the layers it reads
// (those whose names can matter for the paths asked); each costs about 300
// bytes.
const maxRecords = 1 << 16

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

// Locator finds regular files of an image's final filesystem from its
// layers read from the top down (package inspect's Locate reads them), as
// a runtime unpacks them: whiteouts and opaque directories applied,
// symlinks in parent directories followed inside the image root. It keeps
// only the entries whose names can matter for the paths asked (bounded
// memory) and tells when the layers read decide a path.
//
// A pass over the layers is Start, then Keep for every entry of a layer
// and Decide for each path once the layer is read; when Restart reports
// true at the end of a layer, an entry that mattered was dropped and the
// pass must start again from the top layer.
type Locator struct {
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
	// digests are the layers' digests, bottom first, for messages.
	digests []string
}

// NewLocator returns a Locator for paths (absolute and clean).
func NewLocator(paths []string) *Locator {
	l := &Locator{names: map[string]bool{}}
	for _, p := range paths {
		l.addNames(p)
	}
	return l
}

// Start begins a pass over the layers, whose digests, bottom first, are
// digests.
func (l *Locator) Start(digests []string) {
	l.recs = make([][]rec, len(digests))
	l.nrecs, l.restart, l.dropped, l.links, l.digests = 0, false, bloom{}, nil, digests
}

// Restart reports whether the pass must start again: a name of the layers
// read turned out to matter after an entry with that name was dropped.
func (l *Locator) Restart() bool { return l.restart }

// Keep records the entry p (clean and absolute, as Walk passes it), the
// entry-th of layer j, if it can matter, and reports whether it did.
// Layers come top first, entries in archive order.
func (l *Locator) Keep(j, entry int, p string, hdr *tar.Header) (bool, error) {
	n := len(l.recs[j])
	err := l.keep(j, entry, p, hdr)
	return len(l.recs[j]) > n, err
}

// Decide returns p's file if the layers from j up decide it (no layer
// below j can change what p is), nil and no error if they do not, and an
// error wrapping ErrLocate if p is not a regular file of the final
// filesystem. searched are the layers read, top first, for messages.
func (l *Locator) Decide(j int, p string, searched []int) (*Located, error) {
	return l.decide(j, len(l.recs), p, searched)
}

// addNames adds the components of a path or symlink target to l.names,
// and the names of the targets of the symlinks so named.
func (l *Locator) addNames(p string) {
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
func (l *Locator) keep(j, entry int, p string, hdr *tar.Header) error {
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
func (l *Locator) decide(j, n int, p string, searched []int) (*Located, error) {
	fs := newRootFS(nil)
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
		return nil, &locateError{Path: p, Problem: err.Error()}
	}
	fail := func(format string, args ...any) (*Located, error) {
		return nil, &locateError{Path: p, Problem: fmt.Sprintf(format, args...)}
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
				return fail("%s is %s by the whiteout %s in layer %d (%s): the final filesystem has no such file; name a file the image still holds", printable.String(s.at), what, printable.String(d.name), d.layer, l.digests[d.layer])
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
		if dn, _, ok, _ := fs.lookup(d, false); ok && dn.ID >= 0 {
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
