//go:build linux

package activate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// maskOf returns the set of vs; values above 63 are left out.
func maskOf(vs []cap.Value) caps.Mask {
	var m caps.Mask
	for _, v := range vs {
		m |= caps.MaskOf(int(v))
	}
	return m
}

// setCaps returns the sets of s; values the host's libcap cannot
// represent are left out rather than failing the whole diagnosis.
func setCaps(s *cap.Set) caps.ProcessCaps {
	var p caps.ProcessCaps
	for _, fl := range []struct {
		f cap.Flag
		m *caps.Mask
	}{{cap.Effective, &p.Effective}, {cap.Permitted, &p.Permitted}, {cap.Inheritable, &p.Inheritable}} {
		for v := cap.Value(0); v < caps.MaxBits; v++ {
			if on, err := s.GetFlag(fl.f, v); err == nil && on {
				*fl.m |= caps.MaskOf(int(v))
			}
		}
	}
	return p
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
	Inheritable, Permitted, Effective, Bounding, Ambient caps.Mask
	// NoNewPrivs is the no_new_privs flag: file capabilities and
	// set-user-ID bits grant nothing beyond what the parent held on exec.
	NoNewPrivs bool
	// TracerPID is the process tracing this one (a debugger, strace), or 0.
	TracerPID int
	// File is the security.capability xattr of Executable, as this
	// process sees it: the kernel translates a v3 root ID into this
	// process's user namespace, and returns v2 when it maps to uid 0. It
	// is nil when the file has no capabilities or they could not be read
	// (see FileErr).
	File *caps.Xattr
	// FileErr says why the xattr could not be read or decoded. It is nil
	// when it was read, or the file simply has no capabilities.
	FileErr error
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
// getpcaps prints them (caps.ProcessCaps.String): "cap_net_bind_service=p",
// or "=" when it holds none.
func (r Report) Held() string {
	return caps.ProcessCaps{Effective: r.Effective, Permitted: r.Permitted, Inheritable: r.Inheritable}.String()
}

// fileText is the binary's file capabilities as getcap -n prints them
// (caps.Xattr.String), "none" when it has none, or why they could not be
// read.
func (r Report) fileText() string {
	switch {
	case r.FileErr != nil:
		return "unreadable: " + r.FileErr.Error()
	case r.File == nil:
		return "none"
	}
	return r.File.String()
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
	file := r.fileText()
	if r.File != nil {
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
	all := caps.Mask(0)
	if r.KernelCaps > 0 && r.KernelCaps <= caps.MaxBits {
		all = caps.Mask(1)<<uint(r.KernelCaps) - 1
		if r.KernelCaps == caps.MaxBits {
			all = ^caps.Mask(0)
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
	if b, err := sys.getxattr(procSelfExe, caps.XattrName); err != nil {
		if !errors.Is(err, syscall.ENODATA) {
			r.FileErr = fmt.Errorf("getxattr %s: %w", caps.XattrName, err)
		}
	} else if x, err := caps.Decode(b); err != nil {
		r.FileErr = err
	} else {
		r.File = &x
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
	masks := map[string]*caps.Mask{
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
			*masks[key] = caps.Mask(n)
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
