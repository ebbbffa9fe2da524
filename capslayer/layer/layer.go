package layer

import (
	"errors"
	"fmt"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Defaults for the tar entries. They match what rules_pkg and tar.bzl write
// for a binary: root-owned, executable, at the Unix epoch.
const (
	DefaultMode = 0o755 // permission bits of file entries
	DirMode     = 0o755 // permission bits of every parent directory entry
)

// File is one regular file of a layer.
type File struct {
	// Path is where the file lives inside the image: absolute and clean,
	// such as "/app/server". It is stored without the leading "/".
	Path string

	// Source is the host file to read the contents from. A symlink is
	// followed and its target is stored as a regular file. Directories,
	// devices, pipes and sockets are rejected.
	Source string

	// Caps is the file's capabilities, or nil for a file without any. The
	// entry carries Caps.Encode(), the security.capability value of
	// Caps.Revision (2 is what setcap writes and works in every user
	// namespace; 3 limits the capabilities to the namespace whose root is
	// Caps.RootID). The descriptor records that value and Caps.String().
	Caps *caps.Xattr
}

// Compression selects how the tar stream is compressed: None, Gzip or
// Zstd. It is go-containerregistry's compression.Compression; parse names,
// map file names and media types with the functions of
// capslayer/internal/compression, which also pins the encoder settings. The
// compressed bytes, and so the layer digest, are reproducible only for the
// same settings and version of github.com/klauspost/compress (see go.mod);
// the diff_id does not depend on them.
type Compression = compression.Compression

// The supported compressions.
const (
	None = compression.None
	Gzip = compression.Gzip
	Zstd = compression.Zstd
)

// Descriptor describes a written layer. Its JSON form is an OCI content
// descriptor (mediaType, digest, size) with two extra top-level fields:
// diff_id, the digest of the uncompressed tar that an image config lists in
// rootfs.diff_ids, and files, what the layer holds. Tools that read OCI
// descriptors ignore the extra fields.
type Descriptor struct {
	MediaType types.MediaType `json:"mediaType"`
	Digest    v1.Hash         `json:"digest"`
	Size      int64           `json:"size"`
	DiffID    v1.Hash         `json:"diff_id"`
	Files     []FileInfo      `json:"files"`
}

// FileInfo records one file of a layer, in archive order.
type FileInfo struct {
	Path  string `json:"path"`            // absolute path in the image
	Caps  string `json:"caps,omitempty"`  // capability text, as getcap -n prints it
	Xattr string `json:"xattr,omitempty"` // security.capability value, lower-case hex
	Mode  string `json:"mode"`            // permission bits, octal, e.g. "0755"
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Size  int64  `json:"size"` // bytes of file content
	// Origin is set in layers made from an existing tar (Rewrite):
	// OriginSet for capabilities given there, OriginInput for those the
	// input already had. It is empty in layers written from files, where
	// every capability is given.
	Origin string `json:"origin,omitempty"`
}

// Result is what Write and WriteFile report.
type Result struct {
	Descriptor
	// Warnings are problems that did not stop the layer, such as
	// capabilities on a script allowed by WithAllowScripts.
	Warnings []string
}

// ErrScript reports capabilities on a file that starts with "#!". The kernel
// ignores file capabilities of interpreted scripts (it runs the
// interpreter), so they would silently do nothing.
var ErrScript = errors.New("file capabilities on a script have no effect")

// ErrChanged reports a source file whose size changed while the layer was
// being written.
var ErrChanged = errors.New("source file changed while being read")

// ErrUnsafeMode reports capabilities on a file whose mode is setuid,
// setgid or world-writable (WithMode): set-ID adds a second privilege to the
// capabilities, and anyone may replace a world-writable file's contents
// while its capabilities stay. WithAllowUnsafeMode stores it anyway.
var ErrUnsafeMode = errors.New("capabilities on a setuid, setgid or world-writable file")

// ErrModTime reports a modification time after MaxModTime.
var ErrModTime = errors.New("modification time out of range")

// MaxModTime is the latest modification time a layer takes, in seconds since
// the epoch: 8^11-1 (2242-03-16T12:56:31Z), the largest that fits the
// 11-digit octal mtime field of a ustar header. Later times need a PAX or
// GNU base-256 header, which some readers (Python's tarfile for
// 9223372036854775807) fail to extract.
const MaxModTime = 1<<33 - 1

// Option configures Write and WriteFile.
type Option func(*options) error

type options struct {
	uid, gid       int
	mode           int64
	mtime          int64
	compression    Compression
	allowScripts   bool
	allowUnsafe    bool
	descriptorPath string
	digests        bool
	replaceCaps    bool           // CopyUp
	readLimits     []tarfs.Option // CopyUp
	maxEntries     int            // entries of an input tar (Rewrite)
}

// maxID is the largest valid Linux uid or gid; (uid_t)-1 means "no change".
const maxID = 1<<32 - 2

// WithOwner sets the numeric owner of the file entries (default 0:0, root).
// Parent directory entries stay root-owned, because they replace the
// metadata of directories such as /usr in the image when the layer is
// applied. User and group names are left empty.
func WithOwner(uid, gid int) Option {
	return func(o *options) error {
		if uid < 0 || uid > maxID || gid < 0 || gid > maxID {
			return fmt.Errorf("owner %d:%d is out of range: uid and gid must be between 0 and %d", uid, gid, maxID)
		}
		o.uid, o.gid = uid, gid
		return nil
	}
}

// WithMode sets the permission bits of the file entries (default 0755).
// The setuid, setgid and sticky bits are allowed; file type bits are not.
func WithMode(perm int64) Option {
	return func(o *options) error {
		if perm < 0 || perm > 0o7777 {
			return fmt.Errorf("mode %#o is out of range: give permission bits between 0000 and 7777 (octal), e.g. 0755", perm)
		}
		o.mode = perm
		return nil
	}
}

// WithModTime sets the modification time of every entry, in seconds since
// the Unix epoch (default 0, 1970-01-01T00:00:00Z).
func WithModTime(sec int64) Option {
	return func(o *options) error {
		if sec < 0 {
			return fmt.Errorf("mtime %d is negative: give seconds since 1970-01-01T00:00:00Z, e.g. 0", sec)
		}
		if sec > MaxModTime {
			return fmt.Errorf("%w: %d is after %d (2242-03-16), the latest time a plain tar header holds", ErrModTime, sec, int64(MaxModTime))
		}
		o.mtime = sec
		return nil
	}
}

// WithCompression selects the compression of the output (default None).
func WithCompression(c Compression) Option {
	return func(o *options) error {
		if _, err := compression.Parse(string(c)); err != nil {
			return err
		}
		o.compression = c
		return nil
	}
}

// WithAllowScripts lets files that start with "#!" carry capabilities. The
// kernel ignores them there, so Result.Warnings says so. By default such a
// file is an error wrapping ErrScript.
func WithAllowScripts(allow bool) Option {
	return func(o *options) error {
		o.allowScripts = allow
		return nil
	}
}

// WithAllowUnsafeMode lets files with capabilities have a setuid, setgid
// or world-writable mode (see ErrUnsafeMode).
func WithAllowUnsafeMode(allow bool) Option {
	return func(o *options) error {
		o.allowUnsafe = allow
		return nil
	}
}

// WithDescriptorFile makes WriteFile also write the layer's Descriptor as
// JSON to path, atomically and together with the layer: either both files
// are in place or neither. Write rejects it.
func WithDescriptorFile(path string) Option {
	return func(o *options) error {
		if path == "" {
			return errors.New("descriptor path is empty")
		}
		o.descriptorPath = path
		return nil
	}
}

// WithDigests(false) makes Write, WriteFile, Rewrite and RewriteFile skip
// hashing: the Result's Descriptor then has its MediaType and Files but no
// Digest, Size or DiffID. Describe computes them from the layer later, when
// something needs them. Hashing is most of the time an uncompressed layer
// takes; without it, WriteFile hands each file's contents to the kernel,
// which copies them to the layer (copy_file_range on Linux; see
// writeUnhashed), and RewriteFile of an uncompressed tar does the same with
// the data of every regular file. A compressed layer is
// written as with hashing. It does not go with WithDescriptorFile.
func WithDigests(compute bool) Option {
	return func(o *options) error {
		o.digests = compute
		return nil
	}
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{mode: DefaultMode, compression: None, digests: true, maxEntries: tarfs.DefaultMaxEntries}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if !o.digests && o.descriptorPath != "" {
		return nil, errors.New("WithDescriptorFile needs the digests that WithDigests(false) skips")
	}
	return o, nil
}
