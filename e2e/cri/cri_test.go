// Package cri proves what Kubernetes on containerd does with file
// capabilities, by doing what the kubelet does: it drives containerd's CRI
// plugin through the CRI gRPC API (k8s.io/cri-api, runtime v1) on a private
// containerd (its own root, state, socket, runc root, CNI configuration and
// cgroup parent; restrict_oom_score_adj because root may lack
// CAP_SYS_RESOURCE), with a pause image built by `capslayer image` from the
// probe (no registry is ever contacted) and a CNI bridge without address,
// gateway or masquerading.
//
// Containers get the Kubernetes securityContext translated the way the
// kubelet translates it (kuberuntime's security_context.go):
// allowPrivilegeEscalation: false becomes no_new_privs, capabilities
// add/drop, runAsUser and seccompProfile RuntimeDefault pass through, and
// runAsNonRoot is checked here, as the kubelet checks it, before the
// container is created.
//
// The matrix: the file capability ({=ep, =p + activate.Raise, =p, none}) ×
// allowPrivilegeEscalation {true, false} × the CRI plugin's
// enable_unprivileged_ports {its default, false}, each asserting the
// capability sets and the bind result of the probe, and recording them for
// docs/runtime-matrix.md. Then the example server runs with exactly the
// securityContext `capslayer requirements` prints for it, which must pass
// the Pod Security Standards' restricted level (k8s.io/pod-security-admission).
//
// One containerd runs per enable_unprivileged_ports setting, one pod per
// containerd; everything is removed and the daemon stopped at the end, and
// the test fails if a process, mount, cgroup or network interface is left.
//
// See docs/e2e.md for the table of cases.
package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

var netBind = harness.Mask(harness.CapNetBindService)

// images are built once per test binary and imported into each containerd.
type images struct {
	dir, capslayer    string
	pause             string            // tarball of the pause image
	tarballs, refs    map[string]string // by variant
	server, serverRef string
	busybox           harness.BusyboxImages
}

const pauseRef = "localhost/capslayer-e2e/pause:1"

// variants of the probe's file capability.
var variants = []struct {
	name, caps string
}{
	{"ep", "cap_net_bind_service=ep"},
	{"p", "cap_net_bind_service=p"},
	{"none", ""},
}

func buildImages(t *testing.T) *images {
	t.Helper()
	im := &images{dir: harness.WorldDir(t), capslayer: harness.Capslayer.Path(t), tarballs: map[string]string{}, refs: map[string]string{}}
	probe, server := harness.Probe.Path(t), harness.Server.Path(t)
	harness.RequireStatic(t, probe)
	harness.RequireStatic(t, server)
	im.pause = harness.BuildImage(t, im.capslayer, im.dir, "pause", harness.ImageSpec{
		Binary: probe, Path: "/pause", Entrypoint: []string{"/pause", "-pause"}, User: "65535", Ref: pauseRef})
	for _, v := range variants {
		ref := "localhost/capslayer-e2e/probe:" + v.name
		im.refs[v.name] = ref
		im.tarballs[v.name] = harness.BuildImage(t, im.capslayer, im.dir, v.name, harness.ImageSpec{
			Binary: probe, Path: "/app/probe", Caps: v.caps, User: "1000", Ref: ref})
	}
	im.busybox = harness.BuildBusyboxImages(t, im.capslayer, im.dir, "localhost/capslayer-e2e/")
	im.serverRef = "localhost/capslayer-e2e/server:1"
	im.server = harness.BuildImage(t, im.capslayer, im.dir, "server", harness.ImageSpec{
		Binary: server, Path: "/app/server", Caps: "cap_net_bind_service=ep", User: "1000", Ref: im.serverRef})
	return im
}

// containerd is a private containerd (harness.StartContainerd) and the
// sequence number of its pods and containers.
type containerd struct {
	*harness.Containerd
	seq int
}

func startContainerd(t *testing.T, im *images, name, unprivPorts string) *containerd {
	t.Helper()
	return &containerd{Containerd: harness.StartContainerd(t, harness.ContainerdOptions{
		Name: name, PauseRef: pauseRef, UnprivilegedPorts: unprivPorts,
		Images: append([]string{im.pause, im.server, im.busybox.Copyup, im.busybox.Plain}, mapValues(im.tarballs)...),
		Refs:   append([]string{pauseRef, im.serverRef, im.busybox.CopyupRef, im.busybox.PlainRef}, mapValues(im.refs)...),
	})}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range variants {
		if s, ok := m[v.name]; ok {
			out = append(out, s)
		}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), harness.DefaultTimeout)
	t.Cleanup(cancel)
	return ctx
}

// pod is a running pod sandbox.
type pod struct {
	c      *containerd
	id     string
	config *runtimeapi.PodSandboxConfig
	// portStart is net.ipv4.ip_unprivileged_port_start in the pod's
	// network namespace, as containerd left it.
	portStart string
}

func (c *containerd) runPod(t *testing.T, name string) *pod {
	t.Helper()
	c.seq++
	uid := fmt.Sprintf("capslayer-e2e-%d-%d", os.Getpid(), c.seq)
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: "capslayer-e2e"},
		Hostname:     name,
		LogDirectory: filepath.Join(c.Dir, "pods", uid),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/" + c.Cgroup + "/" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD},
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
		},
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	resp, err := c.RT.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	p := &pod{c: c, id: resp.PodSandboxId, config: cfg}
	t.Cleanup(func() {
		if _, err := c.RT.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
			t.Errorf("StopPodSandbox: %v", err)
		}
		if _, err := c.RT.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id}); err != nil {
			t.Errorf("RemovePodSandbox: %v", err)
		}
	})
	st, err := c.RT.PodSandboxStatus(ctxT(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id, Verbose: true})
	if err != nil {
		t.Fatalf("PodSandboxStatus: %v", err)
	}
	pid := infoPid(t, st.Info)
	p.portStart = harness.NetNSOf(pid).Sysctl(t, "net/ipv4/ip_unprivileged_port_start")
	return p
}

// infoPid reads the pid from a verbose status's "info" JSON.
func infoPid(t *testing.T, info map[string]string) int {
	t.Helper()
	var v struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(info["info"]), &v); err != nil || v.Pid <= 0 {
		t.Fatalf("no pid in the verbose status (%v): %.300s", err, info["info"])
	}
	return v.Pid
}

// securityContext is what the kubelet sends for a container
// securityContext (pkg/kubelet/kuberuntime/security_context.go,
// convertToRuntimeSecurityContext): the fields capabilities depend on.
func securityContext(sc *corev1.SecurityContext) *runtimeapi.LinuxContainerSecurityContext {
	out := &runtimeapi.LinuxContainerSecurityContext{}
	if sc.RunAsUser != nil {
		out.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
	}
	if sc.RunAsGroup != nil {
		out.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
	}
	if sc.Capabilities != nil {
		out.Capabilities = &runtimeapi.Capability{}
		for _, c := range sc.Capabilities.Add {
			out.Capabilities.AddCapabilities = append(out.Capabilities.AddCapabilities, string(c))
		}
		for _, c := range sc.Capabilities.Drop {
			out.Capabilities.DropCapabilities = append(out.Capabilities.DropCapabilities, string(c))
		}
	}
	// kubelet: NoNewPrivs = AddNoNewPrivileges(sc): allowPrivilegeEscalation
	// set to false (and not privileged).
	out.NoNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && (sc.Privileged == nil || !*sc.Privileged)
	if sc.Privileged != nil {
		out.Privileged = *sc.Privileged
	}
	if sc.ReadOnlyRootFilesystem != nil {
		out.ReadonlyRootfs = *sc.ReadOnlyRootFilesystem
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault {
		out.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	}
	return out
}

// verifyRunAsNonRoot is the kubelet's check (kuberuntime's
// verifyRunAsNonRoot): with runAsNonRoot, the uid (runAsUser, else the
// image's user) must be numeric and not 0.
func verifyRunAsNonRoot(sc *corev1.SecurityContext, imageUser string) error {
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy")
		}
		return nil
	}
	name, _, _ := strings.Cut(imageUser, ":")
	uid, err := strconv.ParseInt(name, 10, 64)
	switch {
	case name == "":
		return fmt.Errorf("container has runAsNonRoot and image will run as root")
	case err != nil:
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", imageUser)
	case uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root")
	}
	return nil
}

// container runs one container in the pod with the security context and
// waits until it exits; it returns its log (the probe's output) and exit
// code, or the creation/start error.
func (p *pod) run(t *testing.T, ref string, sc *runtimeapi.LinuxContainerSecurityContext, args ...string) (string, int32, error) {
	t.Helper()
	p.c.seq++
	name := fmt.Sprintf("c%d", p.c.seq)
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: ref},
		Args:     args,
		LogPath:  name + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: sc},
	}
	id, err := p.create(t, cfg)
	if err != nil {
		return "", -1, err
	}
	if _, err := p.c.RT.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		return p.log(t, name), -1, err
	}
	deadline := time.Now().Add(harness.DefaultTimeout)
	for {
		st, err := p.c.RT.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatalf("ContainerStatus: %v", err)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return p.log(t, name), st.Status.ExitCode, nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %v after %v", name, st.Status.State, harness.DefaultTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pod) create(t *testing.T, cfg *runtimeapi.ContainerConfig) (string, error) {
	t.Helper()
	resp, err := p.c.RT.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.config})
	if err != nil {
		return "", err
	}
	t.Cleanup(func() {
		if _, err := p.c.RT.RemoveContainer(context.Background(), &runtimeapi.RemoveContainerRequest{ContainerId: resp.ContainerId}); err != nil {
			t.Errorf("RemoveContainer: %v", err)
		}
	})
	return resp.ContainerId, nil
}

// log returns the container's output from its CRI log file, without the
// "TIMESTAMP STREAM TAG " prefix of each line.
func (p *pod) log(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.config.LogDirectory, name+".log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if f := strings.SplitN(line, " ", 4); len(f) == 4 {
			out.WriteString(f[3] + "\n")
		}
	}
	return out.String()
}

// restrictedYAML is a securityContext as `capslayer requirements` prints
// it for a =ep file and uid 1000; the matrix varies
// allowPrivilegeEscalation. TestCRI checks that the tool prints this.
func matrixSC(ape bool) *corev1.SecurityContext {
	yes, uid := true, int64(1000)
	return &corev1.SecurityContext{
		RunAsNonRoot:             &yes,
		RunAsUser:                &uid,
		AllowPrivilegeEscalation: &ape,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func TestCRI(t *testing.T) {
	harness.RequireRoot(t)
	im := buildImages(t)
	for _, setting := range []struct{ name, value string }{{"default", ""}, {"false", "false"}} {
		t.Run("enable_unprivileged_ports="+setting.name, func(t *testing.T) {
			start := time.Now()
			c := startContainerd(t, im, setting.name, setting.value)
			p := c.runPod(t, "matrix")
			t.Logf("containerd up and pod running in %v; pod ip_unprivileged_port_start=%s", time.Since(start).Round(time.Millisecond), p.portStart)
			testMatrix(t, c, p, setting.name)
			if setting.value == "false" {
				t.Run("example server", func(t *testing.T) { testServer(t, c, p, im) })
				t.Run("copy-up of a base image's busybox", func(t *testing.T) { testCopyUp(t, p, im) })
			}
		})
	}
}

func testMatrix(t *testing.T, c *containerd, p *pod, setting string) {
	lowPorts := p.portStart == "0"
	if setting == "false" && lowPorts {
		t.Fatalf("enable_unprivileged_ports = false, yet the pod's ip_unprivileged_port_start is 0")
	}
	for _, ape := range []bool{true, false} {
		sc := matrixSC(ape)
		csc := securityContext(sc)
		if csc.NoNewPrivs == ape {
			t.Fatalf("allowPrivilegeEscalation %t translated to no_new_privs %t", ape, csc.NoNewPrivs)
		}
		for _, tc := range []struct {
			variant, label string
			args           []string
			prm, eff       uint64
			bind           bool
			raise          string
		}{
			{"ep", "=ep", nil, netBind, netBind, true, ""},
			{"p", "=p + activate.Raise", []string{"-raise"}, netBind, netBind, true, "ok"},
			{"p", "=p", nil, netBind, 0, false, ""},
			{"none", "no file capability", nil, 0, 0, false, ""},
		} {
			what := fmt.Sprintf("%s; allowPrivilegeEscalation: %t; enable_unprivileged_ports: %s (pod: ip_unprivileged_port_start=%s)", tc.label, ape, setting, p.portStart)
			t.Run(fmt.Sprintf("%s ape=%t", tc.label, ape), func(t *testing.T) {
				if err := verifyRunAsNonRoot(sc, "1000"); err != nil {
					t.Fatal(err)
				}
				out, code, err := p.run(t, c.imageRef(tc.variant), csc, tc.args...)
				if err != nil {
					t.Fatalf("running the container: %v\n%s", err, out)
				}
				got := harness.ParseProbe(out)
				matrix.Record(got.Observation("containerd CRI", c.Version, c.Runc, what, fmt.Sprintf("exit %d", code)))
				if !got.Ran {
					t.Fatalf("the probe did not run (exit %d):\n%s", code, out)
				}
				st := got.Status
				if st.CapPrm != tc.prm || st.CapEff != tc.eff || st.CapAmb != 0 || st.NoNewPrivs == ape || st.Uid[0] != 1000 {
					t.Errorf("%v\nwant CapPrm %x CapEff %x CapAmb 0 NoNewPrivs %t uid 1000", st, tc.prm, tc.eff, !ape)
				}
				if tc.raise != "" && got.Raise != tc.raise {
					t.Errorf("raise: %s, want %s", got.Raise, tc.raise)
				}
				wantBind := tc.bind || lowPorts
				if (got.Bind == "ok") != wantBind || (code == 0) != wantBind {
					t.Errorf("bind: %s, exit %d; want bound %t (file capability grants it: %t; ip_unprivileged_port_start %s)\n%s", got.Bind, code, wantBind, tc.bind, p.portStart, out)
				}
			})
		}
	}
	// drop: [ALL] without add: a =ep file cannot be executed.
	t.Run("=ep not granted", func(t *testing.T) {
		sc := matrixSC(false)
		sc.Capabilities.Add = nil
		out, code, err := p.run(t, c.imageRef("ep"), securityContext(sc))
		what := fmt.Sprintf("=ep; capabilities drop: [ALL], no add; enable_unprivileged_ports: %s", setting)
		// runc reports the failed exec of the container's process: as an
		// error of StartContainer, or as the process's output and exit
		// status, depending on the version.
		result := fmt.Sprintf("exit %d", code)
		text := out
		if err != nil {
			text = err.Error()
		}
		if strings.Contains(text, "operation not permitted") {
			result = "exec fails: operation not permitted"
		}
		got := harness.ParseProbe(out)
		matrix.Record(got.Observation("containerd CRI", c.Version, c.Runc, what, result))
		if got.Ran || code == 0 || result != "exec fails: operation not permitted" {
			t.Errorf("want the exec to fail with operation not permitted; err %v, exit %d:\n%s", err, code, out)
		}
	})
}

// testCopyUp runs Debian's busybox-static, unmodified, from an image that
// is its package plus the copy-up layer `capslayer layer --from-image`
// writes for /bin/busybox, with the securityContext of the matrix (drop
// ALL, add NET_BIND_SERVICE, uid 1000) in a pod whose
// ip_unprivileged_port_start is 1024: its nc binds port 80. The same image
// without the copy-up layer gets EPERM.
func testCopyUp(t *testing.T, p *pod, im *images) {
	sc := securityContext(matrixSC(false))
	out, code, err := p.run(t, im.busybox.CopyupRef, sc, harness.BusyNC...)
	if err != nil || code != 143 || strings.Contains(out, "bind") {
		t.Errorf("copy-up: want nc bound on :80 until timeout ended it (exit 143); err %v, exit %d:\n%s", err, code, out)
	}
	out, code, err = p.run(t, im.busybox.PlainRef, sc, harness.BusyNC...)
	if err != nil || code != 1 || !strings.Contains(out, "nc: bind: Permission denied") {
		t.Errorf("without the copy-up layer: want nc: bind: Permission denied (exit 1); err %v, exit %d:\n%s", err, code, out)
	}
}

func (c *containerd) imageRef(variant string) string {
	return "localhost/capslayer-e2e/probe:" + variant
}

// testServer runs the example server's image with exactly the
// securityContext `capslayer requirements --only kubernetes` prints for
// it: it must pass the restricted Pod Security Standard, and the server
// must bind port 80 (ip_unprivileged_port_start is 1024 in this pod) with
// the capability from its file.
func testServer(t *testing.T, c *containerd, p *pod, im *images) {
	r := harness.MustRun(t, im.capslayer, "requirements", "--only", "kubernetes", im.server)
	t.Logf("capslayer requirements --only kubernetes:\n%s", r.Stdout)
	var doc struct {
		SecurityContext *corev1.SecurityContext `json:"securityContext"`
	}
	if err := yaml.UnmarshalStrict([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("the printed securityContext is not a valid Kubernetes securityContext: %v\n%s", err, r.Stdout)
	}
	sc := doc.SecurityContext
	if sc == nil {
		t.Fatalf("no securityContext in:\n%s", r.Stdout)
	}
	// Pod Security Standards, restricted, latest: what the admission
	// controller would say of a pod with this container.
	podSpec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: im.serverRef, SecurityContext: sc}}}
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range eval.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &metav1.ObjectMeta{}, podSpec) {
		if !res.Allowed {
			t.Errorf("Pod Security Standards restricted: %s: %s", res.ForbiddenReason, res.ForbiddenDetail)
		}
	}
	if err := verifyRunAsNonRoot(sc, "1000"); err != nil {
		t.Fatalf("the kubelet would refuse the container: %v", err)
	}
	csc := securityContext(sc)
	id, err := p.create(t, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "server"},
		Image:    &runtimeapi.ImageSpec{Image: im.serverRef},
		LogPath:  "server.log",
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: csc},
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := c.RT.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StartContainer: %v\n%s", err, p.log(t, "server"))
	}
	t.Cleanup(func() {
		if _, err := c.RT.StopContainer(context.Background(), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
			t.Errorf("StopContainer: %v", err)
		}
	})
	st, err := c.RT.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	pid := infoPid(t, st.Info)
	ns := harness.NetNSOf(pid)
	var status harness.ProcStatus
	deadline := time.Now().Add(harness.DefaultTimeout)
	for {
		code, body, err := ns.Get("127.0.0.1:80", "/caps", 2*time.Second)
		if err == nil && code == 200 {
			if status, err = harness.ParseProcStatus(body); err != nil {
				t.Fatalf("GET /caps: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not answer on :80: %v\n%s", err, p.log(t, "server"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The server dropped its capabilities after binding; the bounding set
	// and no_new_privs show what the pod granted.
	if status.CapBnd != netBind || status.CapAmb != 0 || status.NoNewPrivs != csc.NoNewPrivs {
		t.Errorf("server: %v\nwant CapBnd %x, CapAmb 0, NoNewPrivs %t", status, netBind, csc.NoNewPrivs)
	}
	matrix.Record(matrix.Observation{Engine: "containerd CRI", Version: c.Version, Runtime: c.Runc,
		Case:   fmt.Sprintf("example server (=ep) with the securityContext of `capslayer requirements` (allowPrivilegeEscalation: %t); pod: ip_unprivileged_port_start=%s", !csc.NoNewPrivs, p.portStart),
		Result: "passes PSS restricted; serves :80"})
}
