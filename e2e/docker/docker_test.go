// Package docker proves what the Docker engine does with images from
// `capslayer image --tarball`: a private dockerd (its own socket, data root,
// exec root and cgroup parent; no iptables, no bridge) loads the
// docker-archive and runs the probe (e2e/internal/probe) as uid 1000 with
// --network none and net.ipv4.ip_unprivileged_port_start pinned to 1024,
// so only a capability can open port 80. Each case asserts the capability
// sets the process got and the bind result, and records them for
// docs/runtime-matrix.md. The `docker run` line `capslayer requirements`
// prints runs verbatim with the example server.
//
// The daemon is stopped with SIGTERM at the end; the test then checks that
// no process (dockerd, its containerd, shims) and no mount under its
// directories is left, and removes the cgroups it created.
//
// See docs/e2e.md for the table of cases.
package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var netBind = harness.Mask(harness.CapNetBindService)

// daemon is a private dockerd.
type daemon struct {
	dir, sock, cgroup   string
	docker              string
	version, runc       string
	capslayer, probeBin string
	server              string
	seq                 int
}

// dockerCLI picks the client: Debian's docker.io installs it as
// /usr/bin/docker, the same version as its dockerd; another docker earlier
// on PATH (e.g. /usr/local/bin) may be a different release.
func dockerCLI(t *testing.T, dockerd string) string {
	if p := filepath.Join(filepath.Dir(filepath.Dir(dockerd)), "bin", "docker"); strings.HasPrefix(dockerd, "/usr/sbin/") {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return harness.RequireTools(t, "docker")[0]
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	harness.RequireRoot(t)
	tools := harness.RequireTools(t, "dockerd", "docker", "runc", "nsenter")
	d := &daemon{
		dir:       harness.WorldDir(t),
		capslayer: harness.Capslayer.Path(t),
		probeBin:  harness.Probe.Path(t),
		server:    harness.Server.Path(t),
		cgroup:    fmt.Sprintf("capslayer-e2e-docker-%d", os.Getpid()),
	}
	harness.RequireStatic(t, d.probeBin)
	harness.RequireStatic(t, d.server)
	d.docker = dockerCLI(t, tools[0])
	d.sock = filepath.Join(d.dir, "docker.sock")
	t.Cleanup(func() { harness.RemoveCgroups(t, d.cgroup) })
	harness.CleanUpAfter(t, d.dir)
	p := harness.Start(t, tools[0],
		"-H", "unix://"+d.sock,
		"--data-root", filepath.Join(d.dir, "data"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "dockerd.pid"),
		"--cgroup-parent", "/"+d.cgroup,
		"--iptables=false", "--ip6tables=false", "--bridge=none")
	t.Cleanup(func() { harness.StopGracefully(t, p, 30*time.Second) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := harness.Run(t, harness.Cmd{Args: d.cli("version", "--format", "{{.Server.Version}}")})
		if r.ExitCode == 0 {
			d.version = strings.TrimSpace(r.Stdout)
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("dockerd did not come up:\n%s\n%s", r, p.Result())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Debian's version string is 20.10.24+dfsg1; the matrix names the
	// upstream release.
	d.version, _, _ = strings.Cut(d.version, "+")
	d.runc = runcVersion(t)
	t.Logf("dockerd %s (client %s), %s", d.version, d.docker, d.runc)
	return d
}

// runcVersion is "runc X.Y.Z" from `runc --version`.
func runcVersion(t *testing.T) string {
	r := harness.MustRun(t, "runc", "--version")
	f := strings.Fields(r.Stdout)
	if len(f) < 3 {
		t.Fatalf("runc --version: %q", r.Stdout)
	}
	v, _, _ := strings.Cut(f[2], "+")
	return "runc " + v
}

func (d *daemon) cli(args ...string) []string {
	return append([]string{d.docker, "-H", "unix://" + d.sock}, args...)
}

// image builds and loads an image of the probe (or spec.Binary) and
// returns its reference and tarball.
func (d *daemon) image(t *testing.T, tag string, s harness.ImageSpec) (string, string) {
	t.Helper()
	if s.Binary == "" {
		s.Binary, s.Path = d.probeBin, "/app/probe"
	}
	if s.User == "" {
		s.User = "1000"
	}
	s.Ref = "localhost/capslayer-e2e:" + tag
	tarball := harness.BuildImage(t, d.capslayer, d.dir, tag, s)
	r := harness.MustRun(t, d.cli("load", "--input", tarball)...)
	harness.WantContains(t, "docker load output", r.Stdout, "Loaded image: "+s.Ref)
	return s.Ref, tarball
}

// pinned are the flags every probe run shares: no network but lo, and the
// sysctl at the kernel default, which Docker would lower to 0.
var pinned = []string{"--network", "none", "--sysctl", "net.ipv4.ip_unprivileged_port_start=" + strconv.Itoa(harness.UnprivilegedPortStart)}

// probe runs the image to completion with flags (after the pinned ones)
// and returns what the probe printed and docker's result.
func (d *daemon) probe(t *testing.T, flags []string, ref string, args ...string) (harness.ProbeOutput, harness.Result) {
	t.Helper()
	d.seq++
	argv := append(append([]string{"run", "--rm", "--name", fmt.Sprintf("capslayer-e2e-%d", d.seq)}, pinned...), flags...)
	r := harness.Run(t, harness.Cmd{Args: d.cli(append(append(argv, ref), args...)...)})
	return harness.ParseProbe(r.Stdout), r
}

// record asserts nothing; it adds the case to the matrix.
func (d *daemon) record(p harness.ProbeOutput, what, notRun string) {
	matrix.Record(p.Observation("docker", d.version, d.runc, what, notRun))
}

func TestDocker(t *testing.T) {
	d := startDaemon(t)
	ep, _ := d.image(t, "ep", harness.ImageSpec{Caps: "cap_net_bind_service=ep"})
	p, _ := d.image(t, "p", harness.ImageSpec{Caps: "cap_net_bind_service=p"})
	none, _ := d.image(t, "none", harness.ImageSpec{})
	grant := []string{"--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--user", "1000"}

	t.Run("load keeps the layer", func(t *testing.T) {
		// The layer's diff_id is the sha256 of the uncompressed layer tar
		// capslayer wrote: Docker stored it byte for byte.
		b, err := os.ReadFile(filepath.Join(d.dir, "ep-layer.tar"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		r := harness.MustRun(t, d.cli("image", "inspect", "--format", "{{json .RootFS.Layers}}", ep)...)
		var layers []string
		if err := json.Unmarshal([]byte(r.Stdout), &layers); err != nil {
			t.Fatalf("%v: %q", err, r.Stdout)
		}
		if want := "sha256:" + hex.EncodeToString(sum[:]); len(layers) != 1 || layers[0] != want {
			t.Errorf("RootFS.Layers = %q, want [%s]", layers, want)
		}
	})

	type tc struct {
		name, what string
		flags      []string
		ref        string
		args       []string
		ran        bool
		prm, eff   uint64
		nnp, bind  bool
		raise      string
		out        string // substring of docker's output when the probe did not run
	}
	cases := []tc{
		{name: "ep granted", what: "=ep; --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000", flags: grant, ref: ep,
			ran: true, prm: netBind, eff: netBind, bind: true},
		{name: "ep not granted", what: "=ep; --cap-drop ALL --user 1000", flags: []string{"--cap-drop", "ALL", "--user", "1000"}, ref: ep,
			out: "exec /app/probe: operation not permitted"},
		{name: "no xattr granted", what: "no file capability; --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000", flags: grant, ref: none,
			ran: true},
		// Docker before 24.0.6 gives a non-root process the added
		// capabilities in its bounding set only, so no_new_privs keeps exec
		// from granting the file's; since moby#45511 (24.0.6, #46221) they
		// are in the permitted and effective sets too, as containerd does,
		// and the file capability works under no_new_privs.
		{name: "ep no-new-privileges", what: "=ep; --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 --security-opt no-new-privileges",
			flags: append(append([]string{}, grant...), "--security-opt", "no-new-privileges"), ref: ep, ran: true, nnp: true,
			prm: keepsPermitted(d.version, netBind), eff: keepsPermitted(d.version, netBind), bind: keepsPermitted(d.version, 1) == 1},
		{name: "p granted", what: "=p; --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000", flags: grant, ref: p,
			ran: true, prm: netBind},
		{name: "p granted raise", what: "=p + activate.Raise; --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000", flags: grant, ref: p, args: []string{"-raise"},
			ran: true, prm: netBind, eff: netBind, bind: true, raise: "ok"},
		{name: "p not granted raise", what: "=p + activate.Raise; --cap-drop ALL --user 1000", flags: []string{"--cap-drop", "ALL", "--user", "1000"}, ref: p, args: []string{"-raise"},
			ran: true, raise: "cannot raise cap_net_bind_service: not in the permitted set"},
		{name: "ep default caps", what: "=ep; --user 1000 (Docker's default capabilities)", flags: []string{"--user", "1000"}, ref: ep,
			ran: true, prm: netBind, eff: netBind, bind: true},
		{name: "no xattr default caps", what: "no file capability; --user 1000 (Docker's default capabilities)", flags: []string{"--user", "1000"}, ref: none,
			ran: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, r := d.probe(t, c.flags, c.ref, c.args...)
			d.record(got, c.what, notRunResult(r))
			if !c.ran {
				if got.Ran {
					t.Fatalf("the probe ran, want docker run to fail:\n%s", r)
				}
				if r.ExitCode == 0 {
					t.Errorf("exit status 0, want a failure:\n%s", r)
				}
				harness.WantContains(t, "docker run output", r.Output(), c.out)
				return
			}
			if !got.Ran {
				t.Fatalf("the probe did not run:\n%s", r)
			}
			st := got.Status
			if st.CapPrm != c.prm || st.CapEff != c.eff || st.CapAmb != 0 || st.NoNewPrivs != c.nnp {
				t.Errorf("%v\nwant CapPrm %x CapEff %x CapAmb 0 NoNewPrivs %t", st, c.prm, c.eff, c.nnp)
			}
			if st.Uid != [4]int{1000, 1000, 1000, 1000} {
				t.Errorf("uids %v, want 1000", st.Uid)
			}
			if c.raise != "" && !strings.Contains(got.Raise, c.raise) {
				t.Errorf("raise: %q, want %q", got.Raise, c.raise)
			}
			switch {
			case c.bind && (got.Bind != "ok" || r.ExitCode != 0):
				t.Errorf("bind: %s (exit %d), want ok:\n%s", got.Bind, r.ExitCode, r)
			case !c.bind && (got.Bind != "permission denied" || r.ExitCode != 3):
				t.Errorf("bind: %s (exit %d), want permission denied and exit 3:\n%s", got.Bind, r.ExitCode, r)
			}
		})
	}

	// Without the sysctl pinned: Docker lowers ip_unprivileged_port_start
	// to 0 in the container's namespace, so any program binds port 80.
	t.Run("no xattr unpinned", func(t *testing.T) {
		d.seq++
		r := harness.Run(t, harness.Cmd{Args: d.cli("run", "--rm", "--name", fmt.Sprintf("capslayer-e2e-%d", d.seq),
			"--network", "none", "--cap-drop", "ALL", "--user", "1000", none)})
		got := harness.ParseProbe(r.Stdout)
		d.record(got, "no file capability; --cap-drop ALL --user 1000 --network none, ip_unprivileged_port_start not pinned", notRunResult(r))
		if !got.Ran || got.Status.CapPrm != 0 || got.Bind != "ok" {
			t.Errorf("want the probe to bind :80 with no capability (Docker sets ip_unprivileged_port_start=0):\n%s", r)
		}
	})

	t.Run("requirements line verbatim", func(t *testing.T) { testRequirementsLine(t, d) })
	t.Run("copy-up of a base image's busybox", func(t *testing.T) { testCopyUp(t, d, grant) })
}

// testCopyUp runs Debian's busybox-static, unmodified, from an image that
// is its package plus the copy-up layer `capslayer layer --from-image`
// writes for /bin/busybox: as uid 1000 with only NET_BIND_SERVICE, its nc
// binds port 80. The same image without the copy-up layer is refused with
// EPERM.
func testCopyUp(t *testing.T, d *daemon, grant []string) {
	im := harness.BuildBusyboxImages(t, d.capslayer, d.dir, "localhost/capslayer-e2e:")
	for _, tarball := range []string{im.Copyup, im.Plain} {
		harness.MustRun(t, d.cli("load", "--input", tarball)...)
	}
	run := func(ref string) harness.Result {
		d.seq++
		argv := append(append([]string{"run", "--rm", "--name", fmt.Sprintf("capslayer-e2e-%d", d.seq)}, pinned...), grant...)
		return harness.Run(t, harness.Cmd{Args: d.cli(append(append(argv, ref), harness.BusyNC...)...)})
	}
	if r := run(im.CopyupRef); r.ExitCode != 143 || strings.Contains(r.Output(), "bind") {
		t.Errorf("copy-up: want nc bound on :80 until timeout ended it (exit 143):\n%s", r)
	}
	if r := run(im.PlainRef); r.ExitCode != 1 || !strings.Contains(r.Output(), "nc: bind: Permission denied") {
		t.Errorf("without the copy-up layer: want nc: bind: Permission denied (exit 1):\n%s", r)
	}
}

// keepsPermitted returns m when Docker version v puts added capabilities
// in a non-root process's permitted set (24.0.6 and later), else 0.
func keepsPermitted(v string, m uint64) uint64 {
	var major, minor, patch int
	fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch)
	if major > 24 || major == 24 && (minor > 0 || patch >= 6) {
		return m
	}
	return 0
}

// notRunResult is the matrix result of a docker run whose payload never
// started: the error docker printed, without its variable prefix.
func notRunResult(r harness.Result) string {
	out := r.Output()
	if i := strings.Index(out, "exec /app/"); i >= 0 {
		line, _, _ := strings.Cut(out[i:], "\n")
		if j := strings.LastIndex(line, ": "); j >= 0 {
			return "exec fails: " + strings.TrimRight(line[j+2:], `".`)
		}
	}
	return fmt.Sprintf("docker run exit %d", r.ExitCode)
}

// testRequirementsLine runs the `docker run` line `capslayer requirements
// --only docker` prints for the example server's image, word for word
// (only DOCKER_HOST points it at the private daemon), and checks that the
// server serves on port 80 with the capability from its file. Docker
// lowers ip_unprivileged_port_start to 0 in the container, so the same
// flags also run with the sysctl pinned, where only the capability can
// bind.
func testRequirementsLine(t *testing.T, d *daemon) {
	ref, tarball := d.image(t, "server", harness.ImageSpec{Binary: d.server, Path: "/app/server", Caps: "cap_net_bind_service=ep"})
	r := harness.MustRun(t, d.capslayer, "requirements", "--only", "docker", tarball)
	line := strings.TrimSpace(r.Stdout)
	if strings.ContainsAny(line, "'\"\\\n$") {
		t.Fatalf("requirements line %q needs shell parsing; the test runs it split on spaces", line)
	}
	argv := strings.Fields(line)
	if len(argv) < 3 || argv[0] != "docker" || argv[1] != "run" || argv[len(argv)-1] != ref {
		t.Fatalf("requirements line %q, want docker run ... %s", line, ref)
	}
	t.Logf("$ %s", line)
	proc := harness.Start(t, append([]string{"env", "DOCKER_HOST=unix://" + d.sock, d.docker}, argv[1:]...)...)
	t.Cleanup(func() {
		ids := harness.Run(t, harness.Cmd{Args: d.cli("ps", "--all", "--quiet", "--filter", "ancestor="+ref)})
		for _, id := range strings.Fields(ids.Stdout) {
			harness.Run(t, harness.Cmd{Args: d.cli("rm", "--force", id)})
		}
	})
	pid := d.containerPid(t, ref, proc)
	ns := harness.NetNSOf(pid)
	srv, res := harness.WaitServing(t, ns, "127.0.0.1:80", proc, func() int { return pid })
	if srv == nil {
		t.Fatalf("server did not serve:\n%s", res)
	}
	// The server drops every capability once bound; the bounding set
	// shows what Docker granted.
	if st := srv.Status; st.CapBnd != netBind || st.CapPrm != 0 || st.CapAmb != 0 || st.Uid[0] != 1000 {
		t.Errorf("%v\nwant CapBnd %x (from --cap-add), the rest dropped by the server after bind, uid 1000", st, netBind)
	}
	start := ns.Sysctl(t, "net/ipv4/ip_unprivileged_port_start")

	// The same flags with the sysctl pinned: the file capability binds.
	_, pr := d.probe(t, argv[2:len(argv)-1], ref, "-check", "-drop=false", "-addr", ":80")
	result := "serves :80 (ip_unprivileged_port_start is " + start + " in the container); with it pinned to 1024: binds :80"
	if pr.ExitCode != 0 || !strings.Contains(pr.Stdout, "bound [::]:80") {
		t.Errorf("with the requirements' flags and the sysctl pinned, want the server bound:\n%s", pr)
		result = "serves :80 (ip_unprivileged_port_start is " + start + " in the container); with it pinned to 1024: " + strings.TrimSpace(pr.Output())
	}
	matrix.Record(matrix.Observation{Engine: "docker", Version: d.version, Runtime: d.runc,
		Case: "example server (=ep), `" + strings.Replace(line, ref, "IMAGE", 1) + "` from `capslayer requirements`, verbatim", Result: result})
}

// containerPid waits until the container of ref runs and returns its pid.
func (d *daemon) containerPid(t *testing.T, ref string, proc *harness.Proc) int {
	t.Helper()
	deadline := time.Now().Add(harness.DefaultTimeout)
	for {
		ids := harness.Run(t, harness.Cmd{Args: d.cli("ps", "--quiet", "--filter", "ancestor="+ref)})
		if id := strings.TrimSpace(ids.Stdout); id != "" {
			r := harness.Run(t, harness.Cmd{Args: d.cli("inspect", "--format", "{{.State.Pid}}", id)})
			if pid, err := strconv.Atoi(strings.TrimSpace(r.Stdout)); err == nil && pid > 0 {
				return pid
			}
		}
		if proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("no running container of %s:\n%s", ref, proc.Result())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
