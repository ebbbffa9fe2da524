package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Capability numbers the tests refer to, from libcap (which follows
// include/uapi/linux/capability.h).
const (
	CapNetBindService = cap.NET_BIND_SERVICE
	CapSetuid         = cap.SETUID
	CapSetgid         = cap.SETGID
	CapSysAdmin       = cap.SYS_ADMIN
	CapNetAdmin       = cap.NET_ADMIN
	CapSetfcap        = cap.SETFCAP
)

// Mask returns the capability bit mask of the given capabilities, as the
// kernel prints it in /proc/<pid>/status.
func Mask(caps ...cap.Value) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m
}

// MaskString names the capabilities in m, e.g. "cap_net_bind_service", or
// "none" for an empty mask; it makes failure messages readable.
func MaskString(m uint64) string {
	if m == 0 {
		return "none"
	}
	var names []string
	for i := 0; i < 64; i++ {
		if m&(1<<uint(i)) != 0 {
			names = append(names, cap.Value(i).String())
		}
	}
	return strings.Join(names, ",")
}

// ProcStatus holds the capability lines of /proc/<pid>/status.
type ProcStatus struct {
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	// NoNewPrivs is the process's no_new_privs bit.
	NoNewPrivs bool
	// Uid is the real, effective, saved and filesystem uid.
	Uid [4]int
}

// String formats the capability sets like the kernel does, plus names.
func (s ProcStatus) String() string {
	return fmt.Sprintf("CapInh %016x CapPrm %016x (%s) CapEff %016x (%s) CapBnd %016x CapAmb %016x NoNewPrivs %t Uid %v",
		s.CapInh, s.CapPrm, MaskString(s.CapPrm), s.CapEff, MaskString(s.CapEff), s.CapBnd, s.CapAmb, s.NoNewPrivs, s.Uid)
}

// ReadProcStatus parses /proc/<pid>/status; pid may be "self".
func ReadProcStatus(pid string) (ProcStatus, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return ProcStatus{}, err
	}
	return ParseProcStatus(string(b))
}

// ParseProcStatus parses the text of a /proc/<pid>/status file. It needs the
// five Cap* lines; text printed by a process about itself (the server's
// check output) is accepted too, as long as it contains those lines.
func ParseProcStatus(text string) (ProcStatus, error) {
	var s ProcStatus
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var dst *uint64
		switch key {
		case "CapInh":
			dst = &s.CapInh
		case "CapPrm":
			dst = &s.CapPrm
		case "CapEff":
			dst = &s.CapEff
		case "CapBnd":
			dst = &s.CapBnd
		case "CapAmb":
			dst = &s.CapAmb
		case "NoNewPrivs":
			s.NoNewPrivs = val == "1"
		case "Uid":
			f := strings.Fields(val)
			for i := 0; i < len(f) && i < 4; i++ {
				s.Uid[i], _ = strconv.Atoi(f[i])
			}
		}
		if dst == nil || seen[key] {
			continue
		}
		v, err := strconv.ParseUint(val, 16, 64)
		if err != nil {
			return s, fmt.Errorf("parsing %s line %q: %v", key, val, err)
		}
		*dst = v
		seen[key] = true
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if !seen[k] {
			return s, fmt.Errorf("no %s line in process status text:\n%s", k, text)
		}
	}
	return s, nil
}
