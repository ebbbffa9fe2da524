//go:build linux

package activate

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"syscall"

	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Mask is a set of capabilities in the layout of /proc/<pid>/status: bit n is
// the capability whose number is n.
type Mask uint64

// Has reports whether v is in m.
func (m Mask) Has(v cap.Value) bool {
	return v < 64 && m&(1<<uint(v)) != 0
}

// Values returns the capabilities in m in numeric order.
func (m Mask) Values() []cap.Value {
	var vs []cap.Value
	for v := cap.Value(0); v < 64; v++ {
		if m.Has(v) {
			vs = append(vs, v)
		}
	}
	return vs
}

// String returns the capability names in m, comma separated in numeric order
// ("cap_chown,cap_net_bind_service"), or "none" when m is empty.
func (m Mask) String() string {
	if m == 0 {
		return "none"
	}
	return joinValues(m.Values(), ",")
}

func maskOf(vs []cap.Value) Mask {
	var m Mask
	for _, v := range vs {
		if v < 64 {
			m |= 1 << uint(v)
		}
	}
	return m
}

// FileCaps is the security.capability extended attribute of the running
// binary, as this process sees it (the kernel translates a v3 rootid into
// this process's user namespace, and returns v2 when it maps to uid 0).
type FileCaps struct {
	// Revision is the vfs_cap_data revision: 1, 2 or 3. It is 0 when the
	// file has no capabilities or they could not be read (see Err).
	Revision int
	// Effective is the effective bit: "=ep" rather than "=p".
	Effective bool
	// Permitted and Inheritable are the file's permitted and inheritable
	// sets.
	Permitted, Inheritable Mask
	// RootID is the owner of v3 (namespaced) capabilities, as a uid of this
	// process's user namespace.
	RootID uint32
	// Err says why the attribute could not be read or decoded. It is nil
	// when the file simply has no capabilities.
	Err error
}

// Present reports whether the binary carries file capabilities.
func (f FileCaps) Present() bool { return f.Revision != 0 }

// String returns the capabilities in the canonical text that getcap -n prints
// ("cap_net_bind_service=ep", with " [rootid=N]" for v3), "none" when the file
// has none, or the reason they could not be read.
func (f FileCaps) String() string {
	switch {
	case f.Err != nil:
		return "unreadable: " + f.Err.Error()
	case !f.Present():
		return "none"
	}
	s := canonical(f.Inheritable, f.Permitted, f.effectiveMask())
	if f.Revision == 3 {
		s += fmt.Sprintf(" [rootid=%d]", f.RootID)
	}
	return s
}

// effectiveMask is what getcap shows as "e": with the effective bit, all of
// permitted and inheritable.
func (f FileCaps) effectiveMask() Mask {
	if f.Effective {
		return f.Permitted | f.Inheritable
	}
	return 0
}

// Sizes and magic numbers of struct vfs_cap_data / vfs_ns_cap_data
// (include/uapi/linux/capability.h).
const (
	vfsCapRevisionMask   = 0xff000000
	vfsCapFlagsEffective = 0x000001
	vfsCapRevision1      = 0x01000000
	vfsCapRevision2      = 0x02000000
	vfsCapRevision3      = 0x03000000
	vfsCapSize1          = 12
	vfsCapSize2          = 20
	vfsCapSize3          = 24
)

// decodeFileCaps decodes a security.capability value. It is written by hand
// rather than with cap.GetFile because the diagnosis needs the raw revision
// and rootid (cap exposes the rootid only when the kernel itself speaks v3)
// and must work on bytes a test injects.
func decodeFileCaps(b []byte) FileCaps {
	if len(b) < 4 {
		return FileCaps{Err: fmt.Errorf("security.capability is %d bytes, too short for a vfs_cap_data header", len(b))}
	}
	magic := binary.LittleEndian.Uint32(b)
	var f FileCaps
	var size int
	switch magic & vfsCapRevisionMask {
	case vfsCapRevision1:
		f.Revision, size = 1, vfsCapSize1
	case vfsCapRevision2:
		f.Revision, size = 2, vfsCapSize2
	case vfsCapRevision3:
		f.Revision, size = 3, vfsCapSize3
	default:
		return FileCaps{Err: fmt.Errorf("security.capability has unknown revision %#08x", magic&vfsCapRevisionMask)}
	}
	if len(b) != size {
		return FileCaps{Err: fmt.Errorf("security.capability revision %d is %d bytes, want %d", f.Revision, len(b), size)}
	}
	f.Effective = magic&vfsCapFlagsEffective != 0
	f.Permitted = Mask(binary.LittleEndian.Uint32(b[4:]))
	f.Inheritable = Mask(binary.LittleEndian.Uint32(b[8:]))
	if f.Revision >= 2 {
		f.Permitted |= Mask(binary.LittleEndian.Uint32(b[12:])) << 32
		f.Inheritable |= Mask(binary.LittleEndian.Uint32(b[16:])) << 32
	}
	if f.Revision == 3 {
		f.RootID = binary.LittleEndian.Uint32(b[20:])
	}
	return f
}

// Report is what a process can see about its own privileges: the facts the
// diagnosis in [Error] is made from. Print it at start-up with [Diagnose]
// when debugging how a container was started.
type Report struct {
	// Executable is the path of the running binary (/proc/self/exe).
	Executable string
	// UID and EUID are the real and effective user IDs.
	UID, EUID int
	// Inheritable, Permitted, Effective, Bounding and Ambient are the
	// capability sets of the process (CapInh ... CapAmb in
	// /proc/self/status).
	Inheritable, Permitted, Effective, Bounding, Ambient Mask
	// NoNewPrivs is the no_new_privs flag: file capabilities and
	// set-user-ID bits grant nothing beyond what the parent held on exec.
	NoNewPrivs bool
	// TracerPID is the process tracing this one (a debugger, strace), or 0.
	TracerPID int
	// File is the security.capability xattr of Executable.
	File FileCaps
	// NoSuid reports that Executable is on a file system mounted nosuid,
	// where the kernel ignores file capabilities.
	NoSuid bool
	// UserNamespace is the content of /proc/self/uid_map when the process
	// runs in a user namespace other than the initial one, "" otherwise.
	UserNamespace string
	// UnprivilegedPortStart is net.ipv4.ip_unprivileged_port_start of the
	// process's network namespace: ports from there up need no
	// capability. It is -1 when unknown.
	UnprivilegedPortStart int
	// KernelCaps is how many capabilities the running kernel knows.
	KernelCaps int
	// Problems lists what could not be read; the corresponding fields keep
	// their zero values.
	Problems []string
}

// Held returns the process's capabilities in libcap's canonical text, as
// getpcaps prints them: "cap_net_bind_service=p", or "=" when it holds none.
func (r Report) Held() string {
	return canonical(r.Inheritable, r.Permitted, r.Effective)
}

// String formats the report as aligned "name: value" lines, ending with
// notes that need no action (such as running as root).
func (r Report) String() string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-19s %s\n", k+":", v) }
	line("executable", r.Executable)
	line("user", fmt.Sprintf("uid=%d euid=%d", r.UID, r.EUID))
	line("capabilities", r.Held())
	line("bounding set", r.describeBounding())
	line("ambient set", r.Ambient.String())
	line("no_new_privs", boolDigit(r.NoNewPrivs))
	file := r.File.String()
	if r.File.Present() {
		file += fmt.Sprintf(" (security.capability v%d)", r.File.Revision)
	}
	line("file capabilities", file)
	if r.NoSuid {
		line("file system", "mounted nosuid (file capabilities are ignored)")
	}
	if r.TracerPID != 0 {
		line("traced by", "pid "+strconv.Itoa(r.TracerPID))
	}
	if r.UserNamespace == "" {
		line("user namespace", "initial")
	} else {
		line("user namespace", "uid_map "+strings.Join(strings.Fields(r.UserNamespace), " "))
	}
	if r.UnprivilegedPortStart >= 0 {
		line("unprivileged ports", ">= "+strconv.Itoa(r.UnprivilegedPortStart))
	}
	for _, p := range r.Problems {
		line("could not read", p)
	}
	if r.EUID == 0 {
		b.WriteString("note: running as root (uid 0): the capabilities come from the container runtime's grant\n" +
			"      (the bounding set), file capabilities are not needed. This is fine.\n")
	}
	return b.String()
}

func (r Report) describeBounding() string {
	all := Mask(0)
	if r.KernelCaps > 0 && r.KernelCaps <= 64 {
		all = Mask(1)<<uint(r.KernelCaps) - 1
		if r.KernelCaps == 64 {
			all = ^Mask(0)
		}
	}
	switch {
	case all != 0 && r.Bounding == all:
		return "all"
	case all != 0 && r.Bounding&all == r.Bounding && bits.OnesCount64(uint64(r.Bounding)) > r.KernelCaps/2:
		return "all except " + (all &^ r.Bounding).String()
	}
	return r.Bounding.String()
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// canonical returns libcap's canonical text for a process or file set.
func canonical(inh, prm, eff Mask) string {
	s := cap.NewSet()
	for _, fl := range []struct {
		f cap.Flag
		m Mask
	}{{cap.Inheritable, inh}, {cap.Permitted, prm}, {cap.Effective, eff}} {
		// Values the host's libcap cannot represent are left out
		// rather than failing the whole diagnosis.
		for _, v := range fl.m.Values() {
			_ = s.SetFlag(fl.f, true, v)
		}
	}
	return s.String()
}

// system is how the diagnosis reads the process's view of the kernel; tests
// replace it with fakes.
type system struct {
	readFile func(name string) ([]byte, error)
	readlink func(name string) (string, error)
	getxattr func(path, attr string) ([]byte, error)
	nosuid   func(path string) (bool, error)
	maxBits  func() int
}

var live = system{
	readFile: os.ReadFile,
	readlink: os.Readlink,
	getxattr: getxattr,
	nosuid:   nosuid,
	maxBits:  func() int { return int(cap.MaxBits()) },
}

func getxattr(path, attr string) ([]byte, error) {
	// A vfs_ns_cap_data is 24 bytes; anything up to 64 is read so that a
	// malformed value is reported with its real size.
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(path, attr, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// stNoSuid is ST_NOSUID from statfs(2).
const stNoSuid = 0x2

func nosuid(path string) (bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return false, err
	}
	return st.Flags&stNoSuid != 0, nil
}

const (
	procSelfExe   = "/proc/self/exe"
	procStatus    = "/proc/self/status"
	procUIDMap    = "/proc/self/uid_map"
	procPortStart = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
	xattrCaps     = "security.capability"
)

// Diagnose reports what the process can see about its own privileges. It
// changes nothing and never fails: what it cannot read is listed in
// Report.Problems.
func Diagnose() Report {
	return diagnose(live)
}

func diagnose(sys system) Report {
	r := Report{UnprivilegedPortStart: -1, KernelCaps: sys.maxBits()}
	problem := func(what string, err error) {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", what, err))
	}

	if exe, err := sys.readlink(procSelfExe); err != nil {
		problem(procSelfExe, err)
	} else {
		r.Executable = exe
	}

	if status, err := sys.readFile(procStatus); err != nil {
		problem(procStatus, err)
	} else if err := r.parseStatus(status); err != nil {
		problem(procStatus, err)
	}

	// The xattr and mount flags are read through the magic link, so that
	// they are those of the file the kernel actually executed.
	if b, err := sys.getxattr(procSelfExe, xattrCaps); err != nil {
		if !errors.Is(err, syscall.ENODATA) {
			r.File.Err = fmt.Errorf("getxattr %s: %w", xattrCaps, err)
		}
	} else {
		r.File = decodeFileCaps(b)
	}
	if ns, err := sys.nosuid(procSelfExe); err != nil {
		problem("statfs "+procSelfExe, err)
	} else {
		r.NoSuid = ns
	}

	if m, err := sys.readFile(procUIDMap); err != nil {
		problem(procUIDMap, err)
	} else if !initialUIDMap(m) {
		r.UserNamespace = strings.TrimSpace(string(m))
	}

	if p, err := sys.readFile(procPortStart); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(p))); err == nil {
			r.UnprivilegedPortStart = n
		}
	}
	return r
}

// initialUIDMap reports whether m is the identity map of the initial user
// namespace ("0 0 4294967295").
func initialUIDMap(m []byte) bool {
	f := strings.Fields(string(m))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// parseStatus fills the fields that come from /proc/<pid>/status.
func (r *Report) parseStatus(status []byte) error {
	masks := map[string]*Mask{
		"CapInh": &r.Inheritable,
		"CapPrm": &r.Permitted,
		"CapEff": &r.Effective,
		"CapBnd": &r.Bounding,
		"CapAmb": &r.Ambient,
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			n, err := strconv.ParseUint(val, 16, 64)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*masks[key] = Mask(n)
			seen++
		case "Uid":
			f := strings.Fields(val)
			if len(f) < 2 {
				return fmt.Errorf("Uid: want 4 fields, got %q", val)
			}
			var err error
			if r.UID, err = strconv.Atoi(f[0]); err != nil {
				return fmt.Errorf("Uid: %w", err)
			}
			if r.EUID, err = strconv.Atoi(f[1]); err != nil {
				return fmt.Errorf("Uid: %w", err)
			}
		case "NoNewPrivs":
			r.NoNewPrivs = val == "1"
		case "TracerPid":
			r.TracerPID, _ = strconv.Atoi(val)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if seen != len(masks) {
		return errors.New("missing Cap* lines")
	}
	return nil
}
