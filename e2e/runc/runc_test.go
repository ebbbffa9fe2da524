// Package runc proves that an image built with `capslayer image` from a
// capslayer layer works under a real OCI runtime: the image is unpacked
// with umoci into a bundle, its config.json is set to start the server as
// user 1000 with a chosen process capability configuration, and runc runs
// it in a private network namespace the test prepared (loopback up,
// net.ipv4.ip_unprivileged_port_start pinned to 1024 in config.json).
//
// See docs/e2e.md for the table of cases.
package runc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var netBind = harness.Mask(harness.CapNetBindService)

const addr80 = "127.0.0.1:80"

// procCaps is the process capability configuration of config.json.
type procCaps struct {
	Bounding    []string `json:"bounding"`
	Effective   []string `json:"effective"`
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable"`
	Ambient     []string `json:"ambient"`
}

var (
	nbs = []string{"CAP_NET_BIND_SERVICE"}
	// boundingOnly grants the capability the way Docker and Kubernetes do
	// for a non-root user: only the bounding set allows it, so the process
	// gets it at exec from its file capabilities or not at all.
	boundingOnly = procCaps{Bounding: nbs, Effective: []string{}, Permitted: []string{}, Inheritable: []string{}, Ambient: []string{}}
	// notGranted is --cap-drop ALL without --cap-add.
	notGranted = procCaps{Bounding: []string{}, Effective: []string{}, Permitted: []string{}, Inheritable: []string{}, Ambient: []string{}}
	// heldBeforeExec also puts the capability in the permitted and
	// effective sets runc gives the process before it execs the
	// entrypoint (runc keeps them across the switch to the user).
	heldBeforeExec = procCaps{Bounding: nbs, Effective: nbs, Permitted: nbs, Inheritable: []string{}, Ambient: []string{}}
)

type fixture struct {
	capslayer, server, dir, state string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	harness.RequireRoot(t)
	harness.RequireTools(t, "runc", "umoci", "unshare", "nsenter", "ip")
	f := &fixture{
		capslayer: harness.Capslayer.Path(t),
		server:    harness.Server.Path(t),
		dir:       harness.WorldDir(t),
	}
	harness.RequireStatic(t, f.server)
	f.state = filepath.Join(f.dir, "runc-state")
	return f
}

// bundle builds an image FROM scratch holding the server at /app/server
// with the capability text (`capslayer layer`, then `capslayer image` into
// an OCI layout), and unpacks it with `umoci unpack` into a new bundle.
// An empty capsText puts the server in the layer without capabilities.
func (f *fixture) bundle(t *testing.T, name, capsText string) string {
	t.Helper()
	layer := filepath.Join(f.dir, name+".tar")
	if capsText == "" {
		harness.MustRun(t, f.capslayer, "layer", "--file", "/app/server="+f.server, "--output", layer)
	} else {
		harness.MustRun(t, f.capslayer, "layer", "--binary", f.server, "--path", "/app/server", "--caps", capsText, "--output", layer)
	}
	layout := filepath.Join(f.dir, name+"-layout")
	harness.MustRun(t, f.capslayer, "image", "--layer", layer, "--entrypoint", "/app/server", "--user", "1000",
		"--output", layout, "--tag", "e2e:latest")
	bundle := filepath.Join(f.dir, name+"-bundle")
	harness.MustRun(t, "umoci", "unpack", "--image", layout+":latest", bundle)
	return bundle
}

// configure rewrites the bundle's config.json (as umoci generated it from
// the image config) for one case: user 1000:1000 without supplementary
// groups, the given capability sets, noNewPrivileges as given, the server's
// arguments, the network namespace ns instead of a new one, and
// net.ipv4.ip_unprivileged_port_start=1024. Unknown fields are kept.
func configure(t *testing.T, bundle string, ns *harness.NetNS, caps procCaps, nnp bool, args ...string) {
	t.Helper()
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	proc := spec["process"].(map[string]any)
	if got, ok := proc["args"].([]any); !ok || len(got) == 0 || got[0] != "/app/server" {
		t.Fatalf("umoci's config.json runs %v, want the image's entrypoint /app/server", proc["args"])
	}
	proc["args"] = append([]string{"/app/server"}, args...)
	proc["terminal"] = false
	proc["user"] = map[string]any{"uid": 1000, "gid": 1000}
	proc["capabilities"] = caps
	proc["noNewPrivileges"] = nnp
	linux := spec["linux"].(map[string]any)
	var namespaces []any
	for _, n := range linux["namespaces"].([]any) {
		if n.(map[string]any)["type"] != "network" {
			namespaces = append(namespaces, n)
		}
	}
	linux["namespaces"] = append(namespaces, map[string]any{"type": "network", "path": ns.Path})
	linux["sysctl"] = map[string]string{"net.ipv4.ip_unprivileged_port_start": fmt.Sprint(harness.UnprivilegedPortStart)}
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

var containerSeq int

// start runs the bundle with `runc run` in the foreground. A cleanup
// force-deletes the container, so nothing is left behind.
func (f *fixture) start(t *testing.T, bundle string) (*harness.Proc, string) {
	t.Helper()
	containerSeq++
	id := fmt.Sprintf("capslayer-e2e-%d-%d", os.Getpid(), containerSeq)
	p := harness.Start(t, "runc", "--root", f.state, "run", "--bundle", bundle, id)
	t.Cleanup(func() {
		harness.Run(t, harness.Cmd{Args: []string{"runc", "--root", f.state, "delete", "--force", id}})
	})
	return p, id
}

// pid returns the pid of the container's process, from `runc state`.
func (f *fixture) pid(t *testing.T, id string) int {
	t.Helper()
	r := harness.MustRun(t, "runc", "--root", f.state, "state", id)
	var st struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Pid == 0 {
		t.Fatalf("runc state %s: %v\n%s", id, err, r)
	}
	return st.Pid
}

// serve runs the bundle and waits until the server answers on port 80.
func (f *fixture) serve(t *testing.T, bundle string, ns *harness.NetNS) *harness.Running {
	t.Helper()
	p, id := f.start(t, bundle)
	srv, res := harness.WaitServing(t, ns, addr80, p, func() int { return f.pid(t, id) })
	if srv == nil {
		t.Fatalf("container exited before serving:\n%s", res)
	}
	if srv.Status.Uid != [4]int{1000, 1000, 1000, 1000} {
		t.Errorf("server uids = %v, want all 1000", srv.Status.Uid)
	}
	return srv
}

// fail runs the bundle and returns the result of a container that must not
// serve.
func (f *fixture) fail(t *testing.T, bundle string) harness.Result {
	t.Helper()
	p, _ := f.start(t, bundle)
	return p.Wait(t, harness.DefaultTimeout)
}

func wantGreeting(t *testing.T, ns *harness.NetNS) {
	t.Helper()
	code, body, err := ns.Get(addr80, "/", 5*time.Second)
	if err != nil || code != 200 || body != "hello from the rules_capslayer example server\n" {
		t.Errorf("GET http://%s/ = %d %q %v, want 200 and the greeting", addr80, code, body, err)
	}
}

// TestGrantedEffective: the runtime allows the capability in the bounding
// set only; the =ep file capability makes it permitted and effective at
// exec and the server binds port 80.
func TestGrantedEffective(t *testing.T) {
	f := newFixture(t)
	b := f.bundle(t, "ep", "cap_net_bind_service=ep")
	ns := harness.NewNetNS(t)
	configure(t, b, ns, boundingOnly, false, "-addr", addr80, "-drop=false")
	srv := f.serve(t, b, ns)
	harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
	if srv.Status.CapBnd != netBind {
		t.Errorf("CapBnd = %016x, want %016x (only what config.json allows)", srv.Status.CapBnd, netBind)
	}
	harness.WantCaps(t, "GET /caps", srv.Caps, netBind, netBind)
	wantGreeting(t, ns)
}

// TestGrantedPermittedWithHelper: same runtime configuration, =p file
// capability; the server raises it with the activate helper and binds.
func TestGrantedPermittedWithHelper(t *testing.T) {
	f := newFixture(t)
	b := f.bundle(t, "p", "cap_net_bind_service=p")
	ns := harness.NewNetNS(t)
	configure(t, b, ns, boundingOnly, false, "-addr", addr80, "-raise", "-drop=false")
	srv := f.serve(t, b, ns)
	harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
	wantGreeting(t, ns)
}

// TestGrantedPermittedWithoutHelper: =p and no -raise: the capability is
// permitted but not effective, the bind fails with EACCES.
func TestGrantedPermittedWithoutHelper(t *testing.T) {
	f := newFixture(t)
	b := f.bundle(t, "p", "cap_net_bind_service=p")
	ns := harness.NewNetNS(t)
	configure(t, b, ns, boundingOnly, false, "-addr", addr80)
	res := f.fail(t, b)
	if res.ExitCode != 1 {
		t.Errorf("exit status %d, want 1 (the server's):\n%s", res.ExitCode, res)
	}
	harness.WantContains(t, "output", res.Output(),
		"listen tcp "+addr80+": bind: permission denied",
		"cap_net_bind_service is permitted but not effective")
}

// TestNotGrantedEffective: the runtime does not grant the capability
// (--cap-drop ALL); with =ep the kernel refuses the exec: runc reports
// "operation not permitted" and the server never runs.
func TestNotGrantedEffective(t *testing.T) {
	f := newFixture(t)
	b := f.bundle(t, "ep", "cap_net_bind_service=ep")
	ns := harness.NewNetNS(t)
	configure(t, b, ns, notGranted, false, "-addr", addr80)
	res := f.fail(t, b)
	if res.ExitCode == 0 {
		t.Fatalf("runc run succeeded, want the exec refused:\n%s", res)
	}
	t.Logf("runc run exit status %d: %s", res.ExitCode, strings.TrimSpace(res.Stderr))
	// The same words Docker prints: runc's init reports the failed execve.
	harness.WantContains(t, "runc's error", res.Stderr, "exec /app/server: operation not permitted")
	if strings.Contains("\n"+res.Output(), "\nserver: ") {
		t.Errorf("the server ran, want the exec refused:\n%s", res)
	}
}

// TestNotGrantedPermittedWithHelper: not granted, =p file capability: the
// exec succeeds and the helper explains what is missing and how to grant it.
func TestNotGrantedPermittedWithHelper(t *testing.T) {
	f := newFixture(t)
	b := f.bundle(t, "p", "cap_net_bind_service=p")
	ns := harness.NewNetNS(t)
	configure(t, b, ns, notGranted, false, "-addr", addr80, "-raise")
	res := f.fail(t, b)
	if res.ExitCode != 1 {
		t.Errorf("exit status %d, want 1 (the server's):\n%s", res.ExitCode, res)
	}
	harness.WantContains(t, "output", res.Output(),
		"activate: cannot raise cap_net_bind_service: not in the permitted set",
		"current capabilities: =",
		"cap_net_bind_service is not in the bounding set (CapBnd: 0000000000000000)",
		"--cap-add NET_BIND_SERVICE")
}

// TestNoNewPrivileges: noNewPrivileges true with the capability in the
// bounding set only (Kubernetes allowPrivilegeEscalation: false): exec
// grants no file capability, the =ep exec succeeds without it and the bind
// fails; the =p helper names no_new_privs.
func TestNoNewPrivileges(t *testing.T) {
	f := newFixture(t)
	t.Run("ep", func(t *testing.T) {
		b := f.bundle(t, "ep", "cap_net_bind_service=ep")
		ns := harness.NewNetNS(t)
		configure(t, b, ns, boundingOnly, true, "-addr", addr80)
		res := f.fail(t, b)
		if res.ExitCode != 1 {
			t.Errorf("exit status %d, want 1 (the server's):\n%s", res.ExitCode, res)
		}
		harness.WantContains(t, "output", res.Output(), "listen tcp "+addr80+": bind: permission denied", "no_new_privs is set (NoNewPrivs: 1)")
	})
	t.Run("p+helper", func(t *testing.T) {
		b := f.bundle(t, "p", "cap_net_bind_service=p")
		ns := harness.NewNetNS(t)
		configure(t, b, ns, boundingOnly, true, "-addr", addr80, "-raise")
		res := f.fail(t, b)
		if res.ExitCode != 1 {
			t.Errorf("exit status %d, want 1 (the server's):\n%s", res.ExitCode, res)
		}
		harness.WantContains(t, "output", res.Output(),
			"activate: cannot raise cap_net_bind_service: not in the permitted set",
			"no_new_privs is set (NoNewPrivs: 1)")
	})
}

// TestNoNewPrivilegesHeldBeforeExec: noNewPrivileges true, but runc holds
// the capability in the permitted set when it execs the entrypoint. The
// kernel clamps file capabilities to what the process held before exec,
// which includes it, so the =ep file capability still applies: the case of
// an entrypoint that is the capability-carrying binary itself. Without the
// file capability, the same configuration leaves the non-root process with
// nothing (exec of a file without capabilities empties the permitted set
// of a non-root process that has no ambient capabilities).
func TestNoNewPrivilegesHeldBeforeExec(t *testing.T) {
	f := newFixture(t)
	t.Run("ep", func(t *testing.T) {
		b := f.bundle(t, "ep", "cap_net_bind_service=ep")
		ns := harness.NewNetNS(t)
		configure(t, b, ns, heldBeforeExec, true, "-addr", addr80, "-drop=false")
		srv := f.serve(t, b, ns)
		if !srv.Status.NoNewPrivs {
			t.Errorf("NoNewPrivs = 0, want 1: %v", srv.Status)
		}
		harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
		wantGreeting(t, ns)
	})
	t.Run("no file capabilities", func(t *testing.T) {
		b := f.bundle(t, "plain", "")
		ns := harness.NewNetNS(t)
		configure(t, b, ns, heldBeforeExec, true, "-addr", addr80)
		res := f.fail(t, b)
		if res.ExitCode != 1 {
			t.Errorf("exit status %d, want 1 (the server's):\n%s", res.ExitCode, res)
		}
		harness.WantContains(t, "output", res.Output(),
			"listen tcp "+addr80+": bind: permission denied",
			"carries no file capabilities")
	})
}
