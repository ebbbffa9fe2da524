//go:build linux

package activate

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Masks as runtimes set them.
const (
	// dockerDefault is Docker's default bounding set (moby
	// oci/caps/defaults.go): chown, dac_override, fsetid, fowner, mknod,
	// net_raw, setgid, setuid, setfcap, setpcap, net_bind_service,
	// sys_chroot, kill, audit_write.
	dockerDefault = 0x00000000a80425fb
	netBind       = 1 << 10
	bpf           = 1 << 39
	perfmon       = 1 << 38
	netAdmin      = 1 << 12
	kernelCaps    = 41 // Linux 6.x: cap_checkpoint_restore is 40
)

// fake is a process's view of the kernel, for diagnose.
type fake struct {
	exe       string
	uid       int
	inh, prm  uint64
	eff, bnd  uint64
	amb       uint64
	nnp       bool
	tracer    int
	xattr     []byte // nil: no security.capability
	xattrErr  error
	nosuid    bool
	uidMap    string
	portStart string // "" : not readable
}

func (f fake) status() string {
	nnp := 0
	if f.nnp {
		nnp = 1
	}
	return fmt.Sprintf("Name:\tserver\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t7\nPid:\t7\nPPid:\t1\nTracerPid:\t%d\n"+
		"Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n"+
		"CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\nNoNewPrivs:\t%d\nSeccomp:\t2\n",
		f.tracer, f.uid, f.uid, f.uid, f.uid, f.uid, f.uid, f.uid, f.uid, f.inh, f.prm, f.eff, f.bnd, f.amb, nnp)
}

func (f fake) system() system {
	uidMap := f.uidMap
	if uidMap == "" {
		uidMap = "         0          0 4294967295\n"
	}
	files := map[string]string{procStatus: f.status(), procUIDMap: uidMap}
	if f.portStart != "" {
		files[procPortStart] = f.portStart + "\n"
	}
	exe := f.exe
	if exe == "" {
		exe = "/app/server"
	}
	return system{
		readFile: func(name string) ([]byte, error) {
			s, ok := files[name]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			return []byte(s), nil
		},
		readlink: func(string) (string, error) { return exe, nil },
		getxattr: func(path, attr string) ([]byte, error) {
			if path != procSelfExe || attr != caps.XattrName {
				return nil, fmt.Errorf("unexpected getxattr(%q, %q)", path, attr)
			}
			if f.xattrErr != nil {
				return nil, f.xattrErr
			}
			if f.xattr == nil {
				return nil, syscall.ENODATA
			}
			return f.xattr, nil
		},
		nosuid:  func(string) (bool, error) { return f.nosuid, nil },
		maxBits: func() int { return kernelCaps },
	}
}

// v2 returns a revision 2 security.capability value.
func v2(effective bool, permitted, inheritable uint64) []byte {
	return caps.FileCaps{Permitted: caps.Mask(permitted), Inheritable: caps.Mask(inheritable), Effective: effective}.EncodeV2()
}

// v3 returns a revision 3 security.capability value.
func v3(effective bool, permitted, inheritable uint64, rootid uint32) []byte {
	return caps.FileCaps{Permitted: caps.Mask(permitted), Inheritable: caps.Mask(inheritable), Effective: effective}.EncodeV3(rootid)
}

// TestErrorSeed pins the whole message for the situation in ko's
// documentation: the binary is "cap_bpf,cap_perfmon,cap_net_admin=p" and the
// container was started with only --cap-add bpf.
func TestErrorSeed(t *testing.T) {
	f := fake{
		uid: 65532, prm: bpf, bnd: dockerDefault | bpf,
		xattr: v2(false, bpf|perfmon|netAdmin, 0), exe: "/ko-app/caps.test", portStart: "0",
	}
	r := diagnose(f.system())
	wanted := []cap.Value{cap.NET_ADMIN, cap.PERFMON, cap.BPF}
	e := &Error{Wanted: wanted, Missing: r.missing(wanted), Held: r.Held(), Causes: r.Explain(wanted...), Err: ErrNotPermitted}
	want := `activate: cannot raise cap_net_admin,cap_perfmon: not in the permitted set
current capabilities: cap_bpf=p
wanted capabilities: cap_net_admin,cap_perfmon,cap_bpf=ep
cause: cap_net_admin, cap_perfmon are not in the bounding set (CapBnd: 00000080a80425fb): the container runtime did not grant them, so the kernel withheld them from the binary's file capabilities (with =ep file capabilities instead of =p, the program would not even have started: "exec /ko-app/caps.test: operation not permitted")
  fix: grant them to the container: docker run / podman run --cap-add NET_ADMIN --cap-add PERFMON; Kubernetes: securityContext.capabilities.add: ["NET_ADMIN", "PERFMON"] (next to drop: ["ALL"])`
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if !errors.Is(e, ErrNotPermitted) {
		t.Errorf("errors.Is(%T, ErrNotPermitted) = false", e)
	}
}

func TestExplain(t *testing.T) {
	nonRoot := func(f fake) fake { f.uid = 1000; return f }
	for _, tc := range []struct {
		name   string
		f      fake
		wanted []cap.Value
		// want are substrings of the causes' messages and fixes, in
		// order; nil wants no cause at all.
		want []string
	}{{
		name:   "granted",
		f:      nonRoot(fake{prm: netBind, bnd: dockerDefault, xattr: v2(false, netBind, 0)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
	}, {
		name:   "no capabilities wanted",
		f:      nonRoot(fake{bnd: dockerDefault}),
		wanted: nil,
	}, {
		name:   "not in bounding set",
		f:      nonRoot(fake{bnd: dockerDefault &^ netBind, xattr: v2(false, netBind, 0)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want: []string{
			"cap_net_bind_service is not in the bounding set (CapBnd: 00000000a80421fb): the container runtime did not grant it",
			`"exec /app/server: operation not permitted"`,
			"--cap-add NET_BIND_SERVICE",
			`securityContext.capabilities.add: ["NET_BIND_SERVICE"]`,
		},
	}, {
		name:   "root without the grant",
		f:      fake{uid: 0, prm: dockerDefault &^ netBind, eff: dockerDefault &^ netBind, bnd: dockerDefault &^ netBind},
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"running as root (uid 0), the process holds exactly what the container runtime grants", "--cap-add NET_BIND_SERVICE"},
	}, {
		name:   "root dropped it",
		f:      fake{uid: 0, bnd: dockerDefault},
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"running as root (uid 0), the process would hold every capability of the bounding set", "single Raise call"},
	}, {
		name:   "no xattr",
		f:      nonRoot(fake{bnd: dockerDefault}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want: []string{
			"/app/server carries no file capabilities (no security.capability extended attribute)",
			"Dockerfile COPY and COPY --from drop it",
			"RUN setcap cap_net_bind_service=p",
			"getcap /app/server",
		},
	}, {
		name:   "file system without xattrs",
		f:      nonRoot(fake{bnd: dockerDefault, xattrErr: syscall.EOPNOTSUPP}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"does not support the security.capability extended attribute (getxattr security.capability: operation not supported)", "overlay2"},
	}, {
		name:   "v3 of an unmapped namespace",
		f:      nonRoot(fake{bnd: dockerDefault, xattrErr: syscall.EOVERFLOW}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"written for another user namespace", "namespace-independent (v2)"},
	}, {
		name:   "v3 rootid",
		f:      nonRoot(fake{bnd: dockerDefault, xattr: v3(false, netBind, 0, 100000)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want: []string{
			"(cap_net_bind_service=p [rootid=100000]) are namespaced (security.capability v3)",
			"whose root is uid 100000",
			"rootless podman",
		},
	}, {
		name:   "not in the file",
		f:      nonRoot(fake{prm: bpf, eff: bpf, bnd: dockerDefault | bpf, xattr: v2(true, bpf, 0)}),
		wanted: []cap.Value{cap.BPF, cap.NET_BIND_SERVICE},
		want:   []string{"the binary's file capabilities (cap_bpf=ep) do not permit cap_net_bind_service", `"cap_net_bind_service,cap_bpf=p"`},
	}, {
		name:   "partly in the file",
		f:      nonRoot(fake{bnd: dockerDefault | bpf, xattr: v2(false, bpf, 0)}),
		wanted: []cap.Value{cap.BPF, cap.NET_BIND_SERVICE},
		want: []string{
			"(cap_bpf=p) do not permit cap_net_bind_service",
			"cap_bpf is in the binary's file capabilities (cap_bpf=p) and in the bounding set",
		},
	}, {
		name:   "only inheritable in the file",
		f:      nonRoot(fake{bnd: dockerDefault, xattr: v2(false, 0, netBind)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"(cap_net_bind_service=i) do not permit cap_net_bind_service (cap_net_bind_service is only inheritable"},
	}, {
		name:   "no_new_privs",
		f:      nonRoot(fake{bnd: dockerDefault, nnp: true, xattr: v2(false, netBind, 0)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want: []string{
			"no_new_privs is set (NoNewPrivs: 1)",
			"allowPrivilegeEscalation: false",
			"--security-opt no-new-privileges",
			"capabilities.add: [\"NET_BIND_SERVICE\"] (allowPrivilegeEscalation: false stays)",
			"since 24.0.6 (moby#45511)",
		},
	}, {
		name:   "no_new_privs and no xattr",
		f:      nonRoot(fake{bnd: dockerDefault, nnp: true}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"carries no file capabilities", "no_new_privs is set"},
	}, {
		name:   "nosuid",
		f:      nonRoot(fake{bnd: dockerDefault, nosuid: true, xattr: v2(false, netBind, 0)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"/app/server is on a file system mounted nosuid"},
	}, {
		name:   "traced",
		f:      nonRoot(fake{bnd: dockerDefault, tracer: 42, xattr: v2(false, netBind, 0)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"the process is traced (TracerPid: 42)"},
	}, {
		name:   "unexplained",
		f:      nonRoot(fake{bnd: dockerDefault, xattr: v2(false, netBind, 0)}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"cap_net_bind_service is in the binary's file capabilities (cap_net_bind_service=p) and in the bounding set", "AppArmor"},
	}, {
		name:   "unknown to the kernel",
		f:      nonRoot(fake{bnd: dockerDefault}),
		wanted: []cap.Value{cap.Value(45)},
		want:   []string{"the running kernel does not know 45 (it has 41 capabilities)"},
	}, {
		name:   "docker lowered the port sysctl",
		f:      nonRoot(fake{bnd: dockerDefault &^ netBind, portStart: "0"}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want: []string{
			"not in the bounding set",
			"this network namespace lets every process bind ports from 0 up (net.ipv4.ip_unprivileged_port_start=0)",
			"stop asking for it",
		},
	}, {
		name:   "default port sysctl",
		f:      nonRoot(fake{bnd: dockerDefault &^ netBind, portStart: "1024"}),
		wanted: []cap.Value{cap.NET_BIND_SERVICE},
		want:   []string{"not in the bounding set", "only needed for ports below 1024", "--sysctl net.ipv4.ip_unprivileged_port_start=80"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := diagnose(tc.f.system())
			if len(r.Problems) != 0 {
				t.Fatalf("diagnose: Problems = %q", r.Problems)
			}
			causes := r.Explain(tc.wanted...)
			if tc.want == nil {
				if causes != nil {
					t.Fatalf("Explain(%v) = %q, want nil", tc.wanted, causes)
				}
				return
			}
			var all strings.Builder
			for _, c := range causes {
				if c.Message == "" || c.Fix == "" {
					t.Errorf("Explain(%v): cause %q has an empty message or fix", tc.wanted, c)
				}
				fmt.Fprintf(&all, "%s\n%s\n", c.Message, c.Fix)
			}
			text := all.String()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(text[at:], w)
				if i < 0 {
					t.Fatalf("Explain(%v) =\n%s\nwant, after offset %d, %q", tc.wanted, text, at, w)
				}
				at += i + len(w)
			}
			// Measured: no runtime needs privilege escalation allowed for
			// file capabilities (docs/runtime-matrix.md).
			if strings.Contains(text, "allowPrivilegeEscalation: true") {
				t.Errorf("Explain(%v) advises allowPrivilegeEscalation: true:\n%s", tc.wanted, text)
			}
		})
	}
}

func TestDiagnoseFake(t *testing.T) {
	f := fake{
		uid: 1000, prm: netBind, eff: netBind, bnd: (1<<kernelCaps - 1) &^ (1 << 24), nnp: true,
		xattr: v2(false, netBind, 0), uidMap: "         0     100000      65536\n", portStart: "1024",
	}
	r := diagnose(f.system())
	want := Report{
		Executable: "/app/server", UID: 1000, EUID: 1000,
		Permitted: netBind, Effective: netBind, Bounding: caps.Mask(f.bnd), NoNewPrivs: true,
		File:          &caps.Xattr{Revision: 2, Caps: caps.FileCaps{Permitted: netBind}},
		UserNamespace: "0     100000      65536", UnprivilegedPortStart: 1024, KernelCaps: kernelCaps,
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("diagnose() =\n%#v\nwant\n%#v", r, want)
	}
	wantText := `executable:         /app/server
user:               uid=1000 euid=1000
capabilities:       cap_net_bind_service=ep
bounding set:       all except cap_sys_resource
ambient set:        none
no_new_privs:       1
file capabilities:  cap_net_bind_service=p (security.capability v2)
user namespace:     uid_map 0 100000 65536
unprivileged ports: >= 1024
`
	if got := r.String(); got != wantText {
		t.Errorf("String() =\n%s\nwant\n%s", got, wantText)
	}
}

func TestDiagnoseProblems(t *testing.T) {
	sys := fake{}.system()
	sys.readFile = func(name string) ([]byte, error) {
		if name == procStatus {
			return []byte("Name:\tx\nCapPrm:\tzz\n"), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	sys.nosuid = func(string) (bool, error) { return false, syscall.ENOSYS }
	r := diagnose(sys)
	want := []string{
		`/proc/self/status: CapPrm: strconv.ParseUint: parsing "zz": invalid syntax`,
		"statfs /proc/self/exe: function not implemented",
		"/proc/self/uid_map: open /proc/self/uid_map: permission denied",
	}
	if fmt.Sprint(r.Problems) != fmt.Sprint(want) {
		t.Errorf("Problems = %q, want %q", r.Problems, want)
	}
	if r.UnprivilegedPortStart != -1 {
		t.Errorf("UnprivilegedPortStart = %d, want -1 (unknown)", r.UnprivilegedPortStart)
	}
	if !strings.Contains(r.String(), "could not read:     statfs /proc/self/exe: function not implemented\n") {
		t.Errorf("String() does not list the problems:\n%s", r)
	}
}

func TestRootNote(t *testing.T) {
	r := diagnose(fake{uid: 0, prm: dockerDefault, eff: dockerDefault, bnd: dockerDefault}.system())
	s := r.String()
	for _, w := range []string{
		"capabilities:       cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,cap_audit_write,cap_setfcap=ep\n",
		"bounding set:       cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,cap_audit_write,cap_setfcap\n",
		"note: running as root (uid 0)",
		"This is fine.",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("String() =\n%s\nwant it to contain %q", s, w)
		}
	}
	if c := r.Explain(cap.NET_BIND_SERVICE, cap.CHOWN); c != nil {
		t.Errorf("Explain = %q, want nil: root holds both", c)
	}
}

// TestFileCaps checks what the report says about the binary's xattr: the
// text caps.Decode and caps.Xattr.String give, getcap -n's, or why it could
// not be read.
func TestFileCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		// words {0x02000001, 0x400, 0, 0, 0}: what setcap writes for
		// cap_net_bind_service+ep.
		{"v2 ep", v2(true, netBind, 0), "cap_net_bind_service=ep (security.capability v2)"},
		{"v2 p", v2(false, netBind, 0), "cap_net_bind_service=p (security.capability v2)"},
		{"v2 high word", v2(false, bpf|perfmon, 0), "cap_perfmon,cap_bpf=p (security.capability v2)"},
		{"v2 eip", v2(true, netBind, netBind), "cap_net_bind_service=eip (security.capability v2)"},
		{"v3", v3(true, netBind, 0, 1000), "cap_net_bind_service=ep [rootid=1000] (security.capability v3)"},
		{"v1", []byte{1, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0}, "cap_net_bind_service=ep (security.capability v1)"},
		{"empty v2", v2(false, 0, 0), "= (security.capability v2)"},
		{"none", nil, "none"},
		{"short", []byte{0, 0, 0}, "unreadable: caps: security.capability value is 3 bytes, too short for a vfs_cap_data header (4 bytes); valid values are 12, 20 or 24 bytes"},
		{"bad size", append(v2(false, netBind, 0), 0), "unreadable: caps: security.capability value of revision 2 must be 20 bytes, got 21"},
		{"bad revision", []byte{0, 0, 0, 4, 0, 0, 0, 0}, "unreadable: caps: security.capability value has unknown revision byte 0x04"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := diagnose(fake{xattr: tc.in}.system())
			line := "file capabilities:  " + tc.want
			if s := r.String(); !strings.Contains(s, line) {
				t.Errorf("String() =\n%s\nwant the line %q", s, line)
			}
		})
	}
}

func TestBoundingText(t *testing.T) {
	for _, tc := range []struct {
		bnd  uint64
		want string
	}{
		{1<<kernelCaps - 1, "all"},
		{(1<<kernelCaps - 1) &^ (1 << 24), "all except cap_sys_resource"},
		{netBind | bpf, "cap_net_bind_service,cap_bpf"},
		{0, "none"},
	} {
		r := diagnose(fake{bnd: tc.bnd}.system())
		if got := r.describeBounding(); got != tc.want {
			t.Errorf("bounding %016x: %q, want %q", tc.bnd, got, tc.want)
		}
	}
}
