// This file indexes the members of a plain tar (a docker save tarball or an
// oci-archive) once, so that each member is then read in place.
//
// go-containerregistry's tarball package rescans the whole tar from its
// start for every file it opens and reads manifest.json and configs with
// io.ReadAll (no size limit), hence this index.

package inspect

import (
	"archive/tar"
	"fmt"
	"io"
	"path"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// archiveMember locates a file inside a tarball.
type archiveMember struct {
	off, size int64
	typ       byte
	link      string
}

type archive struct {
	in      input
	members map[string]archiveMember
}

// indexArchive records where each member of a (plain) tarball starts.
func indexArchive(in input, o *tarfs.Limits) (*archive, error) {
	f, _, err := openRegular(in.fsys, in.name, in.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := in.path
	a := &archive{in: in, members: map[string]archiveMember{}}
	tr := tar.NewReader(f)
	end := tarfs.NewArchiveEnd()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			// The same end-of-archive checks as for a layer (see tarfs.Walk).
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			if err := end.Check(f, off); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if len(a.members) >= o.MaxEntries {
			return nil, fmt.Errorf("%w: more than %d entries in %s", tarfs.ErrLimit, o.MaxEntries, p)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		// tar reads headers block by block and no further, so the file
		// offset is now the start of the member's contents.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		end.Entry(off, hdr)
		a.members[name] = archiveMember{off: off, size: hdr.Size, typ: hdr.Typeflag, link: hdr.Linkname}
	}
}

// open opens a regular member, following symbolic and hard links (older
// docker save writes repeated layers as symlinks).
func (a *archive) open(name string) (io.ReadCloser, int64, error) {
	p, err := cleanName(name)
	if err != nil {
		return nil, 0, err
	}
	for hops := 0; ; hops++ {
		if hops > 16 {
			return nil, 0, fmt.Errorf("%s: too many links resolving %q", a.in.path, name)
		}
		m, ok := a.members[p]
		if !ok {
			return nil, 0, fmt.Errorf("%s: no member %q", a.in.path, name)
		}
		switch m.typ {
		case tar.TypeReg, tar.TypeRegA:
			f, _, err := openRegular(a.in.fsys, a.in.name, a.in.path)
			if err != nil {
				return nil, 0, err
			}
			return struct {
				io.Reader
				io.Closer
			}{io.NewSectionReader(f, m.off, m.size), f}, m.size, nil
		case tar.TypeSymlink:
			p = path.Clean(path.Join(path.Dir(p), m.link))
		case tar.TypeLink:
			p = path.Clean("/" + m.link)
		default:
			return nil, 0, fmt.Errorf("%s: member %q is not a regular file", a.in.path, name)
		}
	}
}

func (a *archive) readJSON(name string) ([]byte, error) {
	rc, _, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readLimited(rc, maxJSONSize, name)
}

// cleanName is tarfs.CleanName for this package's readers, which add the
// "inspect: " prefix themselves once they have wrapped the error.
func cleanName(name string) (string, error) {
	p, err := tarfs.CleanName(name)
	return p, errprefix.Trim(err, "inspect")
}
