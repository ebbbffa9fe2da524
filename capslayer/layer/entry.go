package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Where the capabilities of a file in a layer built from an existing tar or
// image come from (FileInfo.Origin).
const (
	// OriginSet marks capabilities given by the caller (SetCap).
	OriginSet = "set"
	// OriginInput marks capabilities the entry already carried in the input
	// and keeps in the output.
	OriginInput = "input"
)

// libarchiveRecord is the PAX record in which libarchive also stores
// security.capability, base64-encoded. inspect reads it when the SCHILY
// record is absent; an entry given new capabilities loses it, so that no
// reader can see the old value.
const libarchiveRecord = "LIBARCHIVE.xattr.security.capability"

// checkExisting holds the rules for giving the capabilities c to a file
// that already exists in a tar or an image, whose header is hdr and whose
// path is p: the rules of Rewrite (--from-tar) and CopyUp (--from-image).
//
//   - A setuid, setgid or world-writable mode is refused with an error
//     wrapping ErrUnsafeMode unless WithAllowUnsafeMode, as Write refuses
//     such a WithMode: the layer keeps the file's mode.
//   - Other capabilities the file already has (the SCHILY record, else the
//     LIBARCHIVE one, read as inspect reads them) are refused with an error
//     wrapping ErrHasCapability unless o.replaceCaps; when they are
//     replaced, the warning names both values. The same value again is
//     neither.
//
// The file type and the "#!" of a script are checked by the callers, which
// see the entry's kind and data.
func checkExisting(p string, hdr *tar.Header, c *capability, o *options) (warning string, err error) {
	mode := hdr.Mode & 0o7777
	if bits := caps.UnsafeMode(mode); bits != "" && !o.allowUnsafe {
		return "", fmt.Errorf("%s: %w: the input gives it mode %04o, which sets %s, and the layer keeps the mode; clear those bits in the input (chmod u-s,g-s,o-w)", printable.String(p), ErrUnsafeMode, mode, bits)
	}
	old, ok := tarfs.FileFromHeader(p, hdr)
	if !ok || bytes.Equal(old.Raw, c.raw) {
		return "", nil
	}
	oldText := old.Xattr.String()
	if old.Invalid != "" {
		oldText = fmt.Sprintf("(an invalid value, %x)", old.Raw)
	}
	if !o.replaceCaps {
		return "", fmt.Errorf("%s: %w in the input (%s), which would be replaced by %s", printable.String(p), ErrHasCapability, oldText, c.text)
	}
	return fmt.Sprintf("%s had the capabilities %s in the input; the layer gives it %s instead", printable.String(p), oldText, c.text), nil
}

// capEntry is an existing tar entry given capabilities by setEntryCaps.
type capEntry struct {
	header  *tar.Header // to write in place of the old one
	info    FileInfo    // its descriptor record, Origin OriginSet
	warning string      // from checkExisting
}

// setEntryCaps gives the capabilities c to the entry hdr of a tar at the
// clean path p, for Rewrite: the entry must be a plain regular file
// (a *RewriteError matching ErrRewrite otherwise) and checkExisting's rules
// hold. The new header is hdr with c in the caps.PAXRecordKey record, in PAX
// format; the LIBARCHIVE copy of an old value and the deprecated Xattrs map
// are dropped, and every other field and record is kept. hdr is not
// modified.
func setEntryCaps(p string, hdr *tar.Header, c *capability, o *options) (*capEntry, error) {
	if err := checkNamedEntry(p, hdr); err != nil {
		return nil, err
	}
	warn, err := checkExisting(p, hdr, c, o)
	if err != nil {
		return nil, err
	}
	h := *hdr
	h.PAXRecords = make(map[string]string, len(hdr.PAXRecords)+1)
	for k, v := range hdr.PAXRecords {
		if k != libarchiveRecord {
			h.PAXRecords[k] = v
		}
	}
	h.PAXRecords[caps.PAXRecordKey] = string(c.raw)
	h.Xattrs = nil //nolint:staticcheck // superseded by PAXRecords
	h.Format = tar.FormatPAX
	if h.Typeflag == tar.TypeRegA {
		h.Typeflag = tar.TypeReg
	}
	info := headerInfo(p, &h, c)
	info.Origin = OriginSet
	return &capEntry{header: &h, info: info, warning: warn}, nil
}

// inputCaps returns the descriptor record, Origin OriginInput, of an entry
// of an existing tar that already carries capabilities (read as inspect
// reads them: the SCHILY record, else the LIBARCHIVE one), and false if it
// carries none. A value that is not a valid security.capability is an error
// naming the entry: the kernel refuses to set it, so the layer could not be
// extracted.
func inputCaps(p string, hdr *tar.Header) (FileInfo, bool, error) {
	f, ok := tarfs.FileFromHeader(p, hdr)
	if !ok {
		return FileInfo{}, false, nil
	}
	if f.Invalid != "" {
		return FileInfo{}, false, fmt.Errorf("%s carries a security.capability value that is not valid (%s): runtimes fail to extract it; fix the input", printable.String(p), f.Invalid)
	}
	info := headerInfo(p, hdr, &capability{raw: f.Raw, text: f.Xattr.String()})
	info.Origin = OriginInput
	return info, true, nil
}

// capLister lists, in archive order, the entries of a layer made from
// existing entries that carry capabilities: the named ones (OriginSet), the
// others that carry their own (OriginInput, see inputCaps), and hard links
// to either, which share their target's inode and so its capabilities and
// origin. Rewrite lists its output with it while writing, Describe while
// reading that output back, so that both give the same list.
type capLister struct {
	infos    []FileInfo
	withCaps map[string]int // path -> index in infos of the entry now there
}

// input records an entry that was not named, at the clean path name. It
// returns the path of the named file that a hard link shares capabilities
// with, or "".
func (l *capLister) input(name string, hdr *tar.Header) (linkedTo string, err error) {
	info, ok, err := inputCaps(name, hdr)
	if err != nil {
		return "", err
	}
	if !ok && hdr.Typeflag == tar.TypeLink {
		target, _ := tarfs.CleanName(hdr.Linkname)
		if i, has := l.withCaps[target]; has {
			info, ok = l.infos[i], true
			info.Path = name
			if info.Origin == OriginSet {
				linkedTo = target
			}
		}
	}
	if !ok {
		delete(l.withCaps, name) // a later entry replaces an earlier one
		return "", nil
	}
	l.add(info)
	return linkedTo, nil
}

// add records the named entry described by info.
func (l *capLister) add(info FileInfo) {
	if l.withCaps == nil {
		l.withCaps = map[string]int{}
	}
	l.infos = append(l.infos, info)
	l.withCaps[info.Path] = len(l.infos) - 1
}

// headerInfo is the descriptor record of the entry hdr at p carrying c.
func headerInfo(p string, hdr *tar.Header, c *capability) FileInfo {
	text, xattr := c.record()
	return FileInfo{
		Path:  p,
		Caps:  text,
		Xattr: xattr,
		Mode:  fmt.Sprintf("%04o", hdr.Mode&0o7777),
		UID:   hdr.Uid,
		GID:   hdr.Gid,
		Size:  hdr.Size,
	}
}

// checkNamedEntry refuses a named entry that is not a plain regular file.
func checkNamedEntry(name string, hdr *tar.Header) error {
	fail := func(format string, args ...any) error {
		return &RewriteError{Path: name, Problem: fmt.Sprintf(format, args...)}
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return fail("is a sparse file, which capslayer does not rewrite: store it without --sparse")
			}
		}
		return nil
	case tar.TypeDir:
		return fail("is a directory in the tar: name a regular file (capabilities on directories have no effect)")
	case tar.TypeSymlink:
		target := hdr.Linkname
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(name), target)
		}
		return fail("is a symlink to %s in the tar: name the file it points to, %s", printable.String(hdr.Linkname), printable.String(target))
	case tar.TypeLink:
		target, _ := tarfs.CleanName(hdr.Linkname)
		return fail("is a hard link to %s, an earlier entry of the tar: name %s instead (hard links share its capabilities)", printable.String(target), printable.String(target))
	}
	return fail("is a %s in the tar, not a regular file", entryKind(hdr))
}

// entryKind names the type of a tar entry for messages.
func entryKind(hdr *tar.Header) string {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		return "regular file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "named pipe"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("entry of type %q", hdr.Typeflag)
}
