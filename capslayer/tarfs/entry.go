package tarfs

import (
	"archive/tar"
	"encoding/base64"
	"fmt"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

// libarchiveKey is the record bsdtar writes next to the SCHILY one; its value
// is base64.
const libarchiveKey = "LIBARCHIVE.xattr.security.capability"

// File is one file that carries a security.capability xattr.
type File struct {
	// Path is absolute and clean: "/app/server".
	Path string
	// Xattr is the decoded value; zero if Invalid != "".
	Xattr caps.Xattr
	// Raw is the raw security.capability value (at most 1 KiB is kept).
	Raw []byte
	// Invalid, when non-empty, says why Raw could not be decoded. The file
	// is listed anyway: a malformed value is worth an audit finding.
	Invalid string
	// Mode holds the permission bits with setuid/setgid/sticky (mode & 07777).
	Mode int64
	// UID and GID are the numeric owner.
	UID, GID int
	// Size is the file size in bytes.
	Size int64
	// Type is "file", "hardlink" (a hard link to a file of the same layer
	// that carries the xattr; the kernel keeps xattrs per inode), "dir",
	// "symlink" or "other".
	Type string
	// Link is the target of a hardlink or symlink.
	Link string
	// FinalPath is Path with the symlinks of its parent directories
	// resolved as they were when its layer was unpacked: where the file is
	// in the final filesystem, if it is visible (/lib/x under /lib ->
	// usr/lib is /usr/lib/x).
	FinalPath string
	// Layer is the index of the layer in the image, 0 = bottom (base).
	Layer int
	// ShadowedBy is -1 if the file is visible in the final filesystem, else
	// the index of the layer that overwrote it or whited it out (.wh.<name>,
	// .wh..wh..opq of a parent dir, or a parent replaced by a non-dir). A
	// file written twice in the same layer is shadowed by that layer.
	ShadowedBy int
}

// Visible reports whether the file is present in the final filesystem.
func (f File) Visible() bool { return f.ShadowedBy < 0 }

// Layer is one layer of an image and its files that carry capabilities.
type Layer struct {
	Index     int
	Digest    string // blob digest, "sha256:<hex>"
	DiffID    string // digest of the decompressed tar
	MediaType string
	Files     []File
}

// FileFromHeader returns the File for the entry at the clean path p (as
// Walk passes it) if its header carries a security.capability record. Layer
// and ShadowedBy are left zero.
func FileFromHeader(p string, hdr *tar.Header) (File, bool) {
	return fileFromHeader(p, hdr)
}

func fileFromHeader(p string, hdr *tar.Header) (File, bool) {
	raw, ok := hdr.PAXRecords[caps.PAXRecordKey]
	var invalid string
	if !ok {
		b64, ok2 := hdr.PAXRecords[libarchiveKey]
		if !ok2 {
			return File{}, false
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			invalid = fmt.Sprintf("%s is not base64: %v", libarchiveKey, err)
		}
		raw = string(b)
	}
	f := File{
		Path: p,
		Mode: hdr.Mode & 0o7777,
		UID:  hdr.Uid,
		GID:  hdr.Gid,
		Size: hdr.Size,
		Link: hdr.Linkname,
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont:
		f.Type = "file"
	case tar.TypeLink:
		f.Type = "hardlink"
	case tar.TypeDir:
		f.Type = "dir"
	case tar.TypeSymlink:
		f.Type = "symlink"
	default:
		f.Type = "other"
	}
	if f.Type == "file" || f.Type == "dir" {
		f.Link = ""
	}
	// The value is binary and starts with a NUL byte for =p (magic
	// 0x02000000 little-endian): it is copied as bytes, never as a C string.
	if len(raw) > maxRawValue {
		f.Raw = []byte(raw[:maxRawValue])
		if invalid == "" {
			invalid = fmt.Sprintf("value is %d bytes, longer than any vfs_cap_data (at most 24)", len(raw))
		}
	} else {
		f.Raw = []byte(raw)
	}
	if invalid == "" {
		x, err := caps.Decode(f.Raw)
		if err != nil {
			invalid = err.Error()
		} else {
			f.Xattr = x
		}
	}
	f.Invalid = invalid
	return f, true
}
