package caps

import (
	"encoding/binary"
	"fmt"
)

// XattrName is the extended attribute that holds file capabilities.
const XattrName = "security.capability"

// PAXRecordKey is the PAX record under which tar archives (GNU tar,
// libarchive, Go's archive/tar, container runtimes) carry XattrName.
const PAXRecordKey = "SCHILY.xattr." + XattrName

// The vfs_cap_data layout, from the kernel's
// include/uapi/linux/capability.h. All words are little-endian.
//
//	revision 1 (12 bytes): magic_etc, permitted, inheritable (caps 0..31)
//	revision 2 (20 bytes): magic_etc, permitted[0..31], inheritable[0..31],
//	                       permitted[32..63], inheritable[32..63]
//	revision 3 (24 bytes): revision 2 followed by rootid
const (
	revisionMask  = 0xFF000000
	revision1     = 0x01000000
	revision2     = 0x02000000
	revision3     = 0x03000000
	flagEffective = 0x000001

	sizeV1 = 4 * (1 + 2*1)
	sizeV2 = 4 * (1 + 2*2)
	sizeV3 = 4 * (2 + 2*2)
)

// Xattr is a decoded security.capability value.
type Xattr struct {
	Caps FileCaps
	// Revision is the vfs_cap_data revision: 1 (12 bytes, caps 0..31
	// only), 2 (20 bytes, what setcap writes) or 3 (24 bytes, with a
	// user-namespace root).
	Revision int
	// RootID is, for revision 3 only, the host uid of the root user of
	// the user namespace the capabilities are limited to. The kernel
	// ignores them in every other namespace.
	RootID uint32
}

// EncodeV2 returns the 20-byte revision 2 security.capability value of
// f, byte for byte what setcap writes. Use it in image layers: it works
// in every user namespace.
func (f FileCaps) EncodeV2() []byte {
	return f.encode(make([]byte, sizeV2), revision2)
}

// EncodeV3 returns the 24-byte revision 3 value of f limited to the user
// namespace whose root is host uid rootID, byte for byte what
// `setcap -n rootID` writes. The kernel silently ignores such
// capabilities in any other namespace (moby#41723), so prefer EncodeV2.
func (f FileCaps) EncodeV3(rootID uint32) []byte {
	b := f.encode(make([]byte, sizeV3), revision3)
	binary.LittleEndian.PutUint32(b[20:], rootID)
	return b
}

// encode packs f into b by hand with encoding/binary: libcap/cap has the
// same code (packFileCap) but does not export it, and its exported
// SetFile path needs a real file and privileges.
func (f FileCaps) encode(b []byte, magic uint32) []byte {
	if f.Effective {
		magic |= flagEffective
	}
	le := binary.LittleEndian
	le.PutUint32(b[0:], magic)
	le.PutUint32(b[4:], uint32(f.Permitted))
	le.PutUint32(b[8:], uint32(f.Inheritable))
	if len(b) > sizeV1 {
		le.PutUint32(b[12:], uint32(f.Permitted>>32))
		le.PutUint32(b[16:], uint32(f.Inheritable>>32))
	}
	return b
}

// Encode returns x in its own revision: the inverse of Decode for every
// value Decode accepts.
func (x Xattr) Encode() ([]byte, error) {
	switch x.Revision {
	case 1:
		if x.Caps.All()>>32 != 0 {
			return nil, fmt.Errorf("caps: revision 1 holds capabilities 0..31 only, not %s", (x.Caps.All() &^ 0xFFFFFFFF).String())
		}
		return x.Caps.encode(make([]byte, sizeV1), revision1), nil
	case 2:
		return x.Caps.EncodeV2(), nil
	case 3:
		return x.Caps.EncodeV3(x.RootID), nil
	}
	return nil, fmt.Errorf("caps: unknown vfs_cap_data revision %d (want 1, 2 or 3)", x.Revision)
}

// String returns the canonical text of x exactly as `getcap -n` (libcap
// 2.66) prints it: the capability text, followed by " [rootid=N]" for
// revision 3 values with a root ID other than 0. Like getcap, it prints the
// root ID as a signed 32-bit number ([rootid=-2147483648] for 2^31), and
// nothing for root ID 0, which the kernel stores as revision 2.
func (x Xattr) String() string {
	if x.Revision == 3 && x.RootID != 0 {
		return fmt.Sprintf("%s [rootid=%d]", x.Caps, int32(x.RootID))
	}
	return x.Caps.String()
}

// Decode decodes a security.capability value of any revision. It rejects
// values the kernel would not load (wrong size for the revision, unknown
// revision) and values with flag bits other than the effective bit set,
// which no tool writes. The value is binary and may start with a NUL
// byte; it must be passed whole.
func Decode(b []byte) (Xattr, error) {
	if len(b) < 4 {
		return Xattr{}, fmt.Errorf("caps: security.capability value is %d bytes, too short for a vfs_cap_data header (4 bytes); valid values are 12, 20 or 24 bytes", len(b))
	}
	le := binary.LittleEndian
	magic := le.Uint32(b)
	var x Xattr
	want := 0
	switch magic & revisionMask {
	case revision1:
		x.Revision, want = 1, sizeV1
	case revision2:
		x.Revision, want = 2, sizeV2
	case revision3:
		x.Revision, want = 3, sizeV3
	default:
		return Xattr{}, fmt.Errorf("caps: security.capability value has unknown revision byte 0x%02x in its header %08x (little-endian 0x%08x); want 01, 02 or 03 in the 4th byte, as in 0000000201000000... for cap_chown=p", magic>>24, b[:4], magic)
	}
	if len(b) != want {
		return Xattr{}, fmt.Errorf("caps: security.capability value of revision %d must be %d bytes, got %d", x.Revision, want, len(b))
	}
	if flags := magic &^ (revisionMask | flagEffective); flags != 0 {
		return Xattr{}, fmt.Errorf("caps: security.capability header 0x%08x sets reserved flag bits 0x%06x; only 0x000001 (effective) is defined", magic, flags)
	}
	x.Caps.Effective = magic&flagEffective != 0
	x.Caps.Permitted = Mask(le.Uint32(b[4:]))
	x.Caps.Inheritable = Mask(le.Uint32(b[8:]))
	if x.Revision >= 2 {
		x.Caps.Permitted |= Mask(le.Uint32(b[12:])) << 32
		x.Caps.Inheritable |= Mask(le.Uint32(b[16:])) << 32
	}
	if x.Revision == 3 {
		x.RootID = le.Uint32(b[20:])
	}
	return x, nil
}
