// Package podman proves that an image built with `capslayer image --tarball`
// works under podman, run with the flags `capslayer requirements` prints:
// the image is loaded with `podman load` into a private store (vfs storage,
// runc, cgroupfs, file events, all under a temporary directory) and run as
// user 1000 with --network none (a namespace with only lo, up) and
// net.ipv4.ip_unprivileged_port_start pinned to 1024. The one host file
// podman still writes is its blob-info cache, a digest cache whose location
// containers/image hard-codes for root (/var/lib/containers/cache; see
// podman issues 15398 and 22830).
//
// podman, unlike Docker and Kubernetes, also hands --cap-add capabilities to
// a non-root user directly (ambient set), so a binary without any file
// capability may bind port 80 too. The tests therefore compare with an
// image whose binary has none, and check the sets that show where the
// capability came from: file capabilities clear the ambient set at exec, and
// an =p file keeps the capability out of the effective set even when podman
// would have made it effective.
//
// See docs/e2e.md for the table of cases.
package podman

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var netBind = harness.Mask(harness.CapNetBindService)

const (
	addr80   = "127.0.0.1:80"
	addrHigh = "127.0.0.1:8080"
)

// containersConf is the private containers.conf. default_ulimits lowers
// podman's rootful defaults (nofile 1048576, nproc 4194304), which a root
// without CAP_SYS_RESOURCE (as in some CI sandboxes) cannot raise to: runc
// would fail with "error setting rlimits for ready process".
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%s/events.log"
tmp_dir = "%s/tmp"
`

const storageConf = `[storage]
driver = "vfs"
graphroot = "%s/root"
runroot = "%s/runroot"
`

// store is a private podman configuration and image store.
type store struct {
	dir       string
	capslayer string
	server    string
	seq       int
}

func newStore(t *testing.T) *store {
	t.Helper()
	harness.RequireRoot(t)
	harness.RequireTools(t, "podman", "runc", "env", "nsenter")
	s := &store{dir: harness.WorldDir(t), capslayer: harness.Capslayer.Path(t), server: harness.Server.Path(t)}
	harness.RequireStatic(t, s.server)
	for name, text := range map[string]string{
		"containers.conf": fmt.Sprintf(containersConf, s.dir, s.dir),
		"storage.conf":    fmt.Sprintf(storageConf, s.dir, s.dir),
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Remove every container and image, so no mount or state is left
		// behind in the temporary directory.
		harness.Run(t, harness.Cmd{Args: s.podman("rm", "--all", "--force")})
		harness.Run(t, harness.Cmd{Args: s.podman("rmi", "--all", "--force")})
	})
	v := harness.MustRun(t, s.podman("version", "--format", "{{.Client.Version}}")...)
	t.Logf("podman %s", strings.TrimSpace(v.Stdout))
	return s
}

// podman returns argv running podman with the private configuration.
func (s *store) podman(args ...string) []string {
	argv := []string{"env",
		"CONTAINERS_CONF=" + filepath.Join(s.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(s.dir, "storage.conf"),
		// podman 5 warns on every command on cgroup v1 hosts.
		"PODMAN_IGNORE_CGROUPSV1_WARNING=1",
		"podman",
		"--root", filepath.Join(s.dir, "root"),
		"--runroot", filepath.Join(s.dir, "runroot"),
		"--tmpdir", filepath.Join(s.dir, "tmp"),
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--runtime", "runc",
	}
	return append(argv, args...)
}

// image builds an image FROM scratch with the server at /app/server carrying
// capsText ("" for none), entrypoint /app/server and user 1000, as a
// docker-archive tarball with `capslayer image --tarball`, loads it with
// `podman load` and returns its name and the tarball's path.
func (s *store) image(t *testing.T, tag, capsText string) (string, string) {
	t.Helper()
	layer := filepath.Join(s.dir, tag+".tar")
	if capsText == "" {
		harness.MustRun(t, s.capslayer, "layer", "--file", "/app/server="+s.server, "--output", layer)
	} else {
		harness.MustRun(t, s.capslayer, "layer", "--binary", s.server, "--path", "/app/server", "--caps", capsText, "--output", layer)
	}
	ref := "localhost/capslayer-e2e:" + tag
	tarball := filepath.Join(s.dir, tag+"-image.tar")
	harness.MustRun(t, s.capslayer, "image", "--layer", layer, "--entrypoint", "/app/server", "--user", "1000",
		"--output", filepath.Join(s.dir, tag+"-layout"), "--tarball", tarball, "--tag", ref)
	r := harness.MustRun(t, s.podman("load", "--input", tarball)...)
	harness.WantContains(t, "podman load output", r.Output(), ref)
	return ref, tarball
}

// requirementsFlags returns the run flags `capslayer requirements` prints
// for the image tarball, split into words. They are used as printed.
func (s *store) requirementsFlags(t *testing.T, tarball string) []string {
	t.Helper()
	r := harness.MustRun(t, s.capslayer, "requirements", "--only", "flags", tarball)
	line := strings.TrimSpace(r.Stdout)
	if strings.ContainsAny(line, "'\"\\\n") {
		t.Fatalf("requirements flags %q need shell parsing; the test splits them on spaces", line)
	}
	return strings.Fields(line)
}

// runArgs is `podman run` with the namespace settings every case shares:
// --network none and the sysctl pinned to 1024, so binding port 80 proves
// the capability (podman and Docker may set it lower inside a container).
func (s *store) runArgs(name string, flags []string, ref string, serverArgs ...string) []string {
	args := []string{"run", "--rm", "--name", name, "--network", "none",
		"--sysctl", "net.ipv4.ip_unprivileged_port_start=" + strconv.Itoa(harness.UnprivilegedPortStart)}
	args = append(args, flags...)
	args = append(args, ref)
	return s.podman(append(args, serverArgs...)...)
}

func (s *store) name() string {
	s.seq++
	return fmt.Sprintf("capslayer-e2e-%d-%d", os.Getpid(), s.seq)
}

// serve runs the image and waits until the server answers on addr from
// inside the container's network namespace; it returns the running server
// and that namespace. It returns nil and the result when the container
// exits first.
func (s *store) serve(t *testing.T, flags []string, ref, addr string, serverArgs ...string) (*harness.Running, *harness.NetNS, *harness.Result) {
	t.Helper()
	name := s.name()
	p := harness.Start(t, s.runArgs(name, flags, ref, append([]string{"-addr", addr}, serverArgs...)...)...)
	t.Cleanup(func() { harness.Run(t, harness.Cmd{Args: s.podman("rm", "--force", name)}) })
	deadline := time.Now().Add(harness.DefaultTimeout)
	for {
		select {
		case <-p.Done():
			r := p.Result()
			return nil, nil, &r
		default:
		}
		r := harness.Run(t, harness.Cmd{Args: s.podman("inspect", "--format", "{{.State.Pid}}", name)})
		if pid, err := strconv.Atoi(strings.TrimSpace(r.Stdout)); r.ExitCode == 0 && err == nil && pid > 0 {
			ns := harness.NetNSOf(pid)
			srv, res := harness.WaitServing(t, ns, addr, p, func() int { return pid })
			return srv, ns, res
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s has no pid after %v:\n%s\n%s", name, harness.DefaultTimeout, r, p.Result())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fail runs the image to completion; the server must not come up.
func (s *store) fail(t *testing.T, flags []string, ref string, serverArgs ...string) harness.Result {
	t.Helper()
	name := s.name()
	t.Cleanup(func() { harness.Run(t, harness.Cmd{Args: s.podman("rm", "--force", name)}) })
	return harness.Run(t, harness.Cmd{Args: s.runArgs(name, flags, ref, serverArgs...)})
}

func wantGreeting(t *testing.T, ns *harness.NetNS) {
	t.Helper()
	code, body, err := ns.Get(addr80, "/", 5*time.Second)
	if err != nil || code != 200 || body != "hello from the rules_capslayer example server\n" {
		t.Errorf("GET http://%s/ = %d %q %v, want 200 and the greeting", addr80, code, body, err)
	}
}

// wantPinned checks the sysctl inside the container's namespace.
func wantPinned(t *testing.T, ns *harness.NetNS) {
	t.Helper()
	if got := ns.Sysctl(t, "net/ipv4/ip_unprivileged_port_start"); got != strconv.Itoa(harness.UnprivilegedPortStart) {
		t.Errorf("ip_unprivileged_port_start in the container = %s, want %d", got, harness.UnprivilegedPortStart)
	}
}

// TestRequirementsFlags checks what `capslayer requirements` tells users to
// pass, since the other tests use its words as they are.
func TestRequirementsFlags(t *testing.T) {
	s := newStore(t)
	for _, text := range []string{"cap_net_bind_service=ep", "cap_net_bind_service=p"} {
		_, tarball := s.image(t, strings.TrimPrefix(text, "cap_net_bind_service="), text)
		got := strings.Join(s.requirementsFlags(t, tarball), " ")
		if !strings.Contains(got, "--cap-drop ALL --cap-add NET_BIND_SERVICE") {
			t.Errorf("requirements flags for %s = %q, want --cap-drop ALL --cap-add NET_BIND_SERVICE", text, got)
		}
	}
}

// TestGranted runs the images with the requirements' flags (--cap-drop ALL
// --cap-add NET_BIND_SERVICE).
func TestGranted(t *testing.T) {
	s := newStore(t)
	ep, epTar := s.image(t, "ep", "cap_net_bind_service=ep")
	p, _ := s.image(t, "p", "cap_net_bind_service=p")
	plain, _ := s.image(t, "plain", "")
	flags := s.requirementsFlags(t, epTar)

	// Without file capabilities: what podman itself gives uid 1000.
	var plainSt harness.ProcStatus
	t.Run("no file capabilities", func(t *testing.T) {
		srv, _, res := s.serve(t, flags, plain, addrHigh, "-drop=false")
		if srv == nil {
			t.Fatalf("server did not start:\n%s", res)
		}
		plainSt = srv.Status
		switch st := srv.Status; {
		case st.CapAmb == netBind && st.CapPrm == netBind && st.CapEff == netBind:
			t.Logf("podman hands --cap-add to a non-root user through the ambient set: %v", st)
		case st.CapAmb == 0 && st.CapPrm == 0 && st.CapEff == 0:
			t.Logf("podman grants a non-root user nothing by itself (as Docker): %v", st)
		default:
			t.Errorf("unexpected capability sets without file capabilities: %v", st)
		}
	})

	t.Run("ep", func(t *testing.T) {
		srv, ns, res := s.serve(t, flags, ep, addr80, "-drop=false")
		if srv == nil {
			t.Fatalf("server did not start:\n%s", res)
		}
		st := srv.Status
		if st.CapPrm != netBind || st.CapEff != netBind || st.CapAmb != 0 {
			t.Errorf("%v\nwant CapPrm and CapEff %016x and CapAmb 0: exec of a file with capabilities clears the ambient set, so the capability comes from the file", st, netBind)
		}
		if st.Uid != [4]int{1000, 1000, 1000, 1000} {
			t.Errorf("server uids = %v, want all 1000 (the image's user)", st.Uid)
		}
		wantPinned(t, ns)
		wantGreeting(t, ns)
	})

	t.Run("p without helper", func(t *testing.T) {
		srv, _, res := s.serve(t, flags, p, addrHigh, "-drop=false")
		if srv == nil {
			t.Fatalf("server did not start on %s:\n%s", addrHigh, res)
		}
		st := srv.Status
		if st.CapPrm != netBind || st.CapEff != 0 || st.CapAmb != 0 {
			t.Errorf("%v\nwant CapPrm %016x, CapEff 0, CapAmb 0: the =p file decides, whatever podman grants a binary without capabilities (%v)", st, netBind, plainSt)
		}
		r := s.fail(t, flags, p, "-addr", addr80)
		if r.ExitCode != 1 {
			t.Errorf("exit status %d, want 1 (the server's):\n%s", r.ExitCode, r)
		}
		harness.WantContains(t, "output", r.Output(),
			"listen tcp "+addr80+": bind: permission denied",
			"cap_net_bind_service is permitted but not effective (file capabilities =p): start the server with -raise")
	})

	t.Run("p with helper", func(t *testing.T) {
		srv, ns, res := s.serve(t, flags, p, addr80, "-raise", "-drop=false")
		if srv == nil {
			t.Fatalf("server did not start:\n%s", res)
		}
		harness.WantCaps(t, "/proc/<pid>/status after -raise", srv.Status, netBind, netBind)
		wantGreeting(t, ns)
	})
}

// TestNotGranted runs the images with the requirements' flags minus the
// --cap-add: the runtime grants nothing (--cap-drop ALL).
func TestNotGranted(t *testing.T) {
	s := newStore(t)
	ep, epTar := s.image(t, "ep", "cap_net_bind_service=ep")
	p, _ := s.image(t, "p", "cap_net_bind_service=p")
	var flags []string
	all := s.requirementsFlags(t, epTar)
	for i := 0; i < len(all); i++ {
		if all[i] == "--cap-add" {
			i++
			continue
		}
		flags = append(flags, all[i])
	}
	if strings.Join(flags, " ") == strings.Join(all, " ") {
		t.Fatalf("no --cap-add in the requirements flags %q", all)
	}

	t.Run("ep", func(t *testing.T) {
		r := s.fail(t, flags, ep, "-addr", addr80)
		// The status is the runtime's (1 with podman 4.3 and runc: the
		// process failed in runc's init, after the container was created).
		if r.ExitCode == 0 {
			t.Errorf("exit status 0, want a failure:\n%s", r)
		}
		t.Logf("podman run exit status %d: %s", r.ExitCode, strings.TrimSpace(r.Stderr))
		harness.WantContains(t, "output", r.Output(), "exec /app/server: operation not permitted")
		if strings.Contains("\n"+r.Output(), "\nserver: ") {
			t.Errorf("the server ran, want the exec refused:\n%s", r)
		}
	})
	t.Run("p with helper", func(t *testing.T) {
		r := s.fail(t, flags, p, "-addr", addr80, "-raise")
		if r.ExitCode != 1 {
			t.Errorf("exit status %d, want 1 (the server's):\n%s", r.ExitCode, r)
		}
		harness.WantContains(t, "output", r.Output(),
			"activate: cannot raise cap_net_bind_service: not in the permitted set",
			"current capabilities: =",
			"cap_net_bind_service is not in the bounding set (CapBnd: 0000000000000000)",
			"--cap-add NET_BIND_SERVICE")
	})
}

// TestCopyUp runs Debian's busybox-static, unmodified, from an image that is
// its package plus the copy-up layer `capslayer layer --from-image` writes
// for /bin/busybox, with the requirements' flags: as uid 1000, its nc binds
// port 80. The same image without the copy-up layer is the control: EPERM
// unless podman hands the --cap-add capability to uid 1000 through the
// ambient set (podman 4.3 does; see TestGranted), and then it binds too.
func TestCopyUp(t *testing.T) {
	s := newStore(t)
	im := harness.BuildBusyboxImages(t, s.capslayer, s.dir, "localhost/capslayer-e2e:")
	for _, tarball := range []string{im.Copyup, im.Plain} {
		harness.MustRun(t, s.podman("load", "--input", tarball)...)
	}
	flags := s.requirementsFlags(t, im.Copyup)
	if !strings.Contains(strings.Join(flags, " "), "--cap-drop ALL --cap-add NET_BIND_SERVICE") {
		t.Fatalf("requirements flags %q, want --cap-drop ALL --cap-add NET_BIND_SERVICE", flags)
	}
	if r := s.fail(t, flags, im.CopyupRef, harness.BusyNC...); r.ExitCode != 143 || strings.Contains(r.Output(), "bind") {
		t.Errorf("copy-up: want nc bound on :80 until timeout ended it (exit 143):\n%s", r)
	}
	r := s.fail(t, flags, im.PlainRef, harness.BusyNC...)
	switch {
	case r.ExitCode == 1 && strings.Contains(r.Output(), "nc: bind: Permission denied"):
		t.Logf("without the copy-up layer: EPERM")
	case r.ExitCode == 143:
		t.Logf("without the copy-up layer: binds, through the ambient set podman fills from --cap-add for a non-root user")
	default:
		t.Errorf("without the copy-up layer: want EPERM or, through podman's ambient set, a bind:\n%s", r)
	}
}
