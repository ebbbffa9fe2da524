package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
)

const pauseRef = "localhost/capslayer-e2e/pause:1"

// image is one image the kubelet runs: imported from its OCI layout, so
// that containerd knows it under the manifest digest capslayer printed.
type image struct {
	layout, tag, digest string
}

// ref is the image pinned by digest, as the policy wants it.
func (i image) ref() string {
	name, _, _ := strings.Cut(i.tag, ":")
	return name + "@" + i.digest
}

type images struct {
	capslayer, pause string // pause: docker-archive tarball
	// ep has cap_net_bind_service=ep on /app/probe; none has no file
	// capability.
	ep, none image
}

func buildImages(t *testing.T) *images {
	t.Helper()
	dir := harness.WorldDir(t)
	im := &images{capslayer: harness.Capslayer.Path(t)}
	probe := harness.Probe.Path(t)
	harness.RequireStatic(t, probe)
	im.pause = harness.BuildImage(t, im.capslayer, dir, "pause", harness.ImageSpec{
		Binary: probe, Path: "/pause", Entrypoint: []string{"/pause", "-pause"}, User: "65535", Ref: pauseRef})
	for _, v := range []struct {
		img        *image
		name, caps string
	}{{&im.ep, "ep", "cap_net_bind_service=ep"}, {&im.none, "none", ""}} {
		v.img.tag = "localhost/capslayer-e2e/probe-" + v.name + ":1"
		harness.BuildImage(t, im.capslayer, dir, v.name, harness.ImageSpec{
			Binary: probe, Path: "/app/probe", Caps: v.caps, User: "1000", Ref: v.img.tag})
		v.img.layout = filepath.Join(dir, v.name+"-layout")
		var index struct {
			Manifests []struct {
				Digest string `json:"digest"`
			} `json:"manifests"`
		}
		b, err := os.ReadFile(filepath.Join(v.img.layout, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &index); err != nil || len(index.Manifests) != 1 {
			t.Fatalf("%s/index.json: %v, %d manifests", v.img.layout, err, len(index.Manifests))
		}
		v.img.digest = index.Manifests[0].Digest
	}
	return im
}

// importLayout imports an OCI layout into containerd (which keeps its
// manifest digest) and names it by digest too, as a pull by digest would.
func importLayout(t *testing.T, c *harness.Containerd, dir string, img image) {
	t.Helper()
	tarball := filepath.Join(dir, filepath.Base(img.layout)+".tar")
	harness.MustRun(t, "tar", "-C", img.layout, "-cf", tarball, ".")
	harness.MustRun(t, "ctr", "--address", c.Sock, "--namespace", "k8s.io", "images", "import", tarball)
	harness.MustRun(t, "ctr", "--address", c.Sock, "--namespace", "k8s.io", "images", "tag", img.tag, img.ref())
	deadline := time.Now().Add(harness.DefaultTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), harness.DefaultTimeout)
		st, err := c.Img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: img.ref()}})
		cancel()
		if err == nil && st.Image != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CRI does not see %s: %v", img.ref(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// node is a kubelet registered with the control plane, running pods on a
// private containerd.
type node struct {
	name, dir, logs string
	version         string
	proc            *harness.Proc
}

// kernelTunables are the sysctls the kubelet insists on (its
// container manager's setupKernelTunables): it would set them on the
// host, for every process. It runs in a mount namespace of its own in
// which these files show the values it wants, and checks them
// (protectKernelDefaults) instead of writing them.
var kernelTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {{port}}
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
cgroupRoot: /{{cgroup}}
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: true
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://{{sock}}
imageServiceEndpoint: unix://{{sock}}
podLogsDir: {{dir}}/pod-logs
volumePluginDir: {{dir}}/volume-plugins
staticPodPath: ""
resolvConf: ""
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`

// startKubelet starts the kubelet on containerd c, registered as a node of
// cp, and waits for the node to be Ready. Pods are stopped and the
// kubelet's cgroups removed by cleanups.
func startKubelet(t *testing.T, cp *controlPlane, c *harness.Containerd, cgroup string) *node {
	t.Helper()
	start := time.Now()
	n := &node{name: fmt.Sprintf("capslayer-e2e-%d", os.Getpid()), dir: harness.WorldDir(t)}
	n.logs = filepath.Join(n.dir, "pod-logs")
	harness.CleanUpAfter(t, n.dir)
	kubeconfig := filepath.Join(n.dir, "kubeconfig")
	writeFile(t, kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, certificate-authority: %q}
users:
- name: e2e
  user: {token: %q}
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e}
current-context: e2e
`, cp.url, cp.caFile, cp.token), 0o600)
	r := strings.NewReplacer("{{port}}", strconv.Itoa(freePort(t)), "{{cgroup}}", cgroup, "{{sock}}", c.Sock, "{{dir}}", n.dir)
	config := filepath.Join(n.dir, "config.yaml")
	writeFile(t, config, r.Replace(kubeletConfig), 0o644)

	var script strings.Builder
	script.WriteString("set -e\n")
	for _, k := range slices.Sorted(maps.Keys(kernelTunables)) {
		f := filepath.Join(n.dir, "sysctl-"+strings.ReplaceAll(k, "/", "."))
		writeFile(t, f, kernelTunables[k]+"\n", 0o444)
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s\n", f, k)
	}
	script.WriteString(`exec "$@"` + "\n")
	n.proc = harness.Start(t, "unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", script.String(), "kubelet",
		filepath.Join(cp.bins, "kubelet"),
		"--config="+config, "--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(n.dir, "root"), "--cert-dir="+filepath.Join(n.dir, "pki"),
		"--hostname-override="+n.name, "--v=1")
	t.Cleanup(func() { harness.StopGracefully(t, n.proc, 30*time.Second) })
	waitFor(t, "node "+n.name+" Ready", n.proc, 180*time.Second, func() error {
		var nd corev1.Node
		if err := cp.request("GET", "/api/v1/nodes/"+n.name, nil, &nd); err != nil {
			return err
		}
		n.version = strings.TrimPrefix(nd.Status.NodeInfo.KubeletVersion, "v")
		for _, cond := range nd.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("Ready %s: %s", cond.Status, cond.Message)
			}
		}
		return fmt.Errorf("no Ready condition yet")
	})
	t.Logf("kubelet %s: node %s Ready in %v", n.version, n.name, time.Since(start).Round(time.Millisecond))
	return n
}

// makeCgroupRoot creates the kubelet's cgroup root in every hierarchy (the
// kubelet refuses a root that does not exist) and registers its removal,
// to run after containerd is gone.
func makeCgroupRoot(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() { harness.RemoveCgroups(t, name) })
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		hier = []string{"/sys/fs/cgroup"} // cgroup v2 only
	}
	for _, h := range hier {
		if fi, err := os.Stat(h); err != nil || !fi.IsDir() {
			continue
		}
		if err := os.Mkdir(filepath.Join(h, name), 0o755); err != nil && !os.IsExist(err) {
			t.Fatalf("creating the kubelet's cgroup root: %v", err)
		}
	}
}

// kubeletHostPaths are the host paths the kubelet uses whatever its
// configuration says: the device plugin socket's folder and the folder of
// the container log links. Those it creates are removed at the end.
var kubeletHostPaths = []string{"/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/log/containers"}

const devicePluginSocket = "/var/lib/kubelet/device-plugins/kubelet.sock"

// guardHostPaths refuses to run next to another kubelet (whose device
// plugin socket ours would replace) and registers the removal of the
// paths in kubeletHostPaths that do not exist yet.
func guardHostPaths(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat(devicePluginSocket); err == nil {
		harness.SkipOrFail(t, "%s exists: a kubelet runs on this host, and the test's kubelet would take over its device plugin socket", devicePluginSocket)
	}
	var created []string
	for _, p := range kubeletHostPaths {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			created = append(created, p)
		}
	}
	t.Cleanup(func() {
		if err := os.Remove(devicePluginSocket); err != nil && !os.IsNotExist(err) {
			t.Errorf("removing the kubelet's socket: %v", err)
		}
		for i := len(created) - 1; i >= 0; i-- {
			if err := os.Remove(created[i]); err != nil && !os.IsNotExist(err) {
				ents, _ := os.ReadDir(created[i])
				t.Errorf("removing %s, which the kubelet created: %v (%d entries left)", created[i], err, len(ents))
			}
		}
	})
}

// sweepPods stops and removes every pod sandbox left in containerd (the
// kubelet removes those of deleted pods only in its periodic garbage
// collection), and the /var/log/containers links it made for them.
func sweepPods(t *testing.T, c *harness.Containerd, logs string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*harness.DefaultTimeout)
	defer cancel()
	resp, err := c.RT.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Errorf("ListPodSandbox: %v", err)
		return
	}
	for _, s := range resp.Items {
		if _, err := c.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			t.Errorf("StopPodSandbox %s: %v", s.Metadata.Name, err)
		}
		if _, err := c.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			t.Errorf("RemovePodSandbox %s: %v", s.Metadata.Name, err)
		}
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if dest, err := os.Readlink(l); err == nil && strings.HasPrefix(dest, logs+"/") {
			if err := os.Remove(l); err != nil {
				t.Errorf("removing the kubelet's log link %s: %v", l, err)
			}
		}
	}
}

// podResult is how a pod of one container ended.
type podResult struct {
	phase    corev1.PodPhase
	exitCode int32
	reason   string
	log      string
}

// runPod creates the pod and waits until it has ended (restartPolicy
// Never), returning its phase, the container's exit code and log.
func (n *node) runPod(t *testing.T, cp *controlPlane, ns string, pod *corev1.Pod) (podResult, error) {
	t.Helper()
	pod.Namespace = ns
	pod.Spec.NodeName = n.name
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	if err := cp.createPod(ns, pod, false); err != nil {
		return podResult{}, err
	}
	t.Cleanup(func() {
		if err := cp.request("DELETE", "/api/v1/namespaces/"+ns+"/pods/"+pod.Name+"?gracePeriodSeconds=0", nil, nil); err != nil {
			t.Errorf("deleting pod %s: %v", pod.Name, err)
		}
	})
	var res podResult
	var got *corev1.Pod
	waitFor(t, "pod "+ns+"/"+pod.Name+" to end", n.proc, 120*time.Second, func() error {
		got = cp.getPod(t, ns, pod.Name)
		res.phase = got.Status.Phase
		if res.phase == corev1.PodSucceeded || res.phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("phase %s: %+v", res.phase, got.Status.ContainerStatuses)
	})
	for _, cs := range got.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil {
			res.exitCode, res.reason = term.ExitCode, term.Reason
			if term.Message != "" {
				res.reason += ": " + term.Message
			}
		}
	}
	res.log = n.podLog(t, ns, got)
	return res, nil
}

// podLog reads the container's log from the kubelet's pod log directory
// (<ns>_<pod>_<uid>/<container>/0.log), without the CRI prefixes.
func (n *node) podLog(t *testing.T, ns string, pod *corev1.Pod) string {
	t.Helper()
	f := filepath.Join(n.logs, ns+"_"+pod.Name+"_"+string(pod.UID), pod.Spec.Containers[0].Name, "0.log")
	b, err := os.ReadFile(f)
	if err != nil {
		return ""
	}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if fs := strings.SplitN(line, " ", 4); len(fs) == 4 {
			out.WriteString(fs[3] + "\n")
		}
	}
	return out.String()
}

// requirementsSC is the securityContext `capslayer requirements --only
// kubernetes` prints for the image layout.
func requirementsSC(t *testing.T, capslayer, layout string) *corev1.SecurityContext {
	t.Helper()
	r := harness.MustRun(t, capslayer, "requirements", "--only", "kubernetes", layout)
	var doc struct {
		SecurityContext *corev1.SecurityContext `json:"securityContext"`
	}
	if err := yaml.UnmarshalStrict([]byte(r.Stdout), &doc); err != nil || doc.SecurityContext == nil {
		t.Fatalf("the printed securityContext is not a Kubernetes securityContext: %v\n%s", err, r.Stdout)
	}
	return doc.SecurityContext
}

// probePod is a pod of one probe container with the securityContext sc,
// in a network namespace whose ip_unprivileged_port_start is 1024 (a
// sysctl the restricted Pod Security Standard allows), so that only a
// capability binds port 80.
func probePod(name, ref string, sc *corev1.SecurityContext) *corev1.Pod {
	no := false
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "net.ipv4.ip_unprivileged_port_start", Value: strconv.Itoa(harness.UnprivilegedPortStart)},
			}},
			Containers: []corev1.Container{{
				Name: "probe", Image: ref, ImagePullPolicy: corev1.PullNever, SecurityContext: sc,
			}},
		},
	}
}

// TestKubelet runs pods through the whole stack: a kube-apiserver with its
// PodSecurity admission and the policy `capslayer admission-policy`
// writes, a kubelet that takes the pods (nodeName is set: no scheduler),
// and containerd's CRI plugin under it.
func TestKubelet(t *testing.T) {
	harness.RequireRoot(t)
	harness.RequireTools(t, "unshare", "mount", "sh", "tar")
	bins := kubeBins(t)
	im := buildImages(t)
	guardHostPaths(t)
	cgroup := fmt.Sprintf("capslayer-e2e-kube-%d", os.Getpid())
	makeCgroupRoot(t, cgroup)
	c := harness.StartContainerd(t, harness.ContainerdOptions{Name: "kube", PauseRef: pauseRef, Images: []string{im.pause}, Refs: []string{pauseRef}})
	dir := harness.WorldDir(t)
	for _, img := range []image{im.ep, im.none} {
		importLayout(t, c, dir, img)
	}
	n := &node{}
	t.Cleanup(func() { sweepPods(t, c, n.logs) })
	cp := startControlPlane(t, bins)
	*n = *startKubelet(t, cp, c, cgroup)

	sc := requirementsSC(t, im.capslayer, im.ep.layout)
	t.Logf("capslayer requirements --only kubernetes: %+v", sc)
	// Sections "kubelet 1.35.4 + containerd 2.1.9": one per containerd.
	engine := "kubelet " + n.version + " + containerd"
	record := func(what string, res podResult) matrix.Observation {
		got := harness.ParseProbe(res.log)
		o := got.Observation(engine, c.Version, c.Runc, what, fmt.Sprintf("%s, exit %d", res.phase, res.exitCode))
		if got.Ran {
			o.Result = fmt.Sprintf("%s; pod %s", o.Result, res.phase)
		}
		matrix.Record(o)
		return o
	}
	const restricted = "restricted"
	cp.namespace(t, restricted, map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})

	// 1. The securityContext capslayer prints, PSS restricted: the probe
	// runs as uid 1000 and binds port 80 with the file capability.
	t.Run("requirements securityContext under PSS restricted binds :80", func(t *testing.T) {
		res, err := n.runPod(t, cp, restricted, probePod("ep", im.ep.ref(), sc))
		if err != nil {
			t.Fatalf("the API server refused the pod: %v", err)
		}
		record("=ep; the securityContext of `capslayer requirements`; namespace enforcing PSS restricted", res)
		got := harness.ParseProbe(res.log)
		if res.phase != corev1.PodSucceeded || got.Bind != "ok" {
			t.Fatalf("pod %s (exit %d, %s), want Succeeded with the port bound:\n%s", res.phase, res.exitCode, res.reason, res.log)
		}
		st := got.Status
		if st.Uid[0] != 1000 || st.CapEff != harness.Mask(harness.CapNetBindService) || st.CapAmb != 0 || !st.NoNewPrivs {
			t.Errorf("%v\nwant uid 1000, CapEff 400, CapAmb 0, NoNewPrivs 1", st)
		}
	})

	// 2. Without the file capability the same pod cannot bind; with
	// allowPrivilegeEscalation: true PodSecurity refuses it.
	t.Run("no file capability: bind refused", func(t *testing.T) {
		res, err := n.runPod(t, cp, restricted, probePod("none", im.none.ref(), sc))
		if err != nil {
			t.Fatalf("the API server refused the pod: %v", err)
		}
		record("no file capability; the same securityContext; PSS restricted", res)
		got := harness.ParseProbe(res.log)
		if res.phase != corev1.PodFailed || !got.Ran || got.Bind != "permission denied" {
			t.Fatalf("pod %s (exit %d), bind %q; want Failed with bind: permission denied:\n%s", res.phase, res.exitCode, got.Bind, res.log)
		}
	})
	t.Run("allowPrivilegeEscalation true: refused by PodSecurity", func(t *testing.T) {
		esc := sc.DeepCopy()
		yes := true
		esc.AllowPrivilegeEscalation = &yes
		err := cp.createPod(restricted, probePod("escalation", im.ep.ref(), esc), false)
		checkDecision(t, err, `violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`)
		matrix.Record(matrix.Observation{Engine: engine, Version: c.Version, Runtime: c.Runc,
			Case: "=ep; allowPrivilegeEscalation: true; PSS restricted", Result: "refused by PodSecurity admission"})
	})

	// 3. The policy of `capslayer admission-policy` for the image.
	t.Run("admission policy", func(t *testing.T) {
		const ns = "policy"
		// No Pod Security level here: the policy alone must deny.
		cp.namespace(t, ns, nil)
		y := harness.MustRun(t, im.capslayer, "admission-policy", "--namespace", ns, im.ep.layout).Stdout
		probe := probePod("enforced", im.ep.ref(), nil)
		cp.installPolicyYAML(t, []byte(y), ns, probe.Spec, "must set securityContext.capabilities.drop")

		res, err := n.runPod(t, cp, ns, probePod("least-privilege", im.ep.ref(), sc))
		if err != nil {
			t.Fatalf("the policy refused the least-privileged pod: %v", err)
		}
		record("=ep; the securityContext of `capslayer requirements`, pinned by digest; the `capslayer admission-policy` policy", res)
		if res.phase != corev1.PodSucceeded {
			t.Fatalf("pod %s (exit %d, %s), want Succeeded:\n%s", res.phase, res.exitCode, res.reason, res.log)
		}

		uid0 := int64(0)
		for _, v := range []struct {
			name, ref string
			edit      func(*corev1.SecurityContext)
			want      string
		}{
			{"one capability more", im.ep.ref(), func(s *corev1.SecurityContext) {
				s.Capabilities.Add = append(s.Capabilities.Add, "NET_RAW")
			}, "(add exactly [NET_BIND_SERVICE])"},
			{"no drop ALL", im.ep.ref(), func(s *corev1.SecurityContext) { s.Capabilities.Drop = nil }, "must set securityContext.capabilities.drop: [ALL]"},
			{"allowPrivilegeEscalation true", im.ep.ref(), func(s *corev1.SecurityContext) {
				yes := true
				s.AllowPrivilegeEscalation = &yes
			}, "must set securityContext.allowPrivilegeEscalation: false"},
			{"root", im.ep.ref(), func(s *corev1.SecurityContext) { s.RunAsUser = &uid0 }, "must set runAsNonRoot: true"},
			{"another image adding capabilities", im.none.ref(), nil, "may not add capabilities"},
			{"tag-only reference", im.ep.tag, nil, "may not add capabilities"},
		} {
			t.Run(v.name, func(t *testing.T) {
				s := sc.DeepCopy()
				if v.edit != nil {
					v.edit(s)
				}
				err := cp.createPod(ns, probePod("over-privileged", v.ref, s), true)
				checkDecision(t, err, v.want)
				if err != nil && !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
					t.Errorf("denied by something else than the policy: %v", err)
				}
			})
		}
	})
}
