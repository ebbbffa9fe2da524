package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/capslayer/admission"
	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

const (
	digestServer = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digestPing   = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	digestPlain  = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// capsMask is the set of the named capabilities.
func capsMask(names ...string) caps.Mask {
	var m caps.Mask
	for _, n := range names {
		c, ok := caps.Lookup(n)
		if !ok {
			panic("unknown capability " + n)
		}
		m |= caps.MaskOf(c)
	}
	return m
}

var testImages = []admission.Image{
	{Digest: digestServer, Name: "example.com/server:latest", Capabilities: capsMask("NET_BIND_SERVICE")},
	{Digest: digestPing, Name: "example.com/ping:1", Capabilities: capsMask("cap_net_raw", "NET_ADMIN")},
	{Digest: digestPlain, Name: "example.com/plain:1"},
}

// podSpec decodes a pod spec strictly from YAML, as `kubectl create
// --validate=strict` reads it.
func podSpec(t *testing.T, spec string) corev1.PodSpec {
	t.Helper()
	var s corev1.PodSpec
	if err := yaml.UnmarshalStrict([]byte(strings.TrimLeft(spec, "\n")), &s); err != nil {
		t.Fatalf("decoding the pod spec: %v\n%s", err, spec)
	}
	return s
}

// server is a container of the server image as `capslayer requirements`
// prints it for Kubernetes on containerd.
const server = `
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    allowPrivilegeEscalation: false
    capabilities:
      drop: [ALL]
      add: [NET_BIND_SERVICE]
    seccompProfile:
      type: RuntimeDefault
`

// admissionCase is a pod and the API server's expected answer: want ""
// admits it, else the denial must contain want.
type admissionCase struct {
	name string
	spec string
	want string
}

var policyDecisions = []admissionCase{
	{"server as requirements prints it", "containers:" + server, ""},
	{"runAsNonRoot at pod level", `
securityContext:
  runAsNonRoot: true
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, ""},
	{"add spelled cap_ lower case", `
containers:
- name: server
  image: example.com/server:latest@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [cap_net_bind_service]}
`, ""},
	{"add spelled CAP_ upper case, repeated", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [CAP_NET_BIND_SERVICE, NET_BIND_SERVICE]}
`, ""},
	{"two capabilities in any order", `
containers:
- name: ping
  image: registry.local:5000/ping@` + digestPing + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_RAW, net_admin]}
`, ""},
	{"image without capabilities adds none", `
containers:
- name: plain
  image: example.com/plain@` + digestPlain + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL]}
`, ""},
	{"other image, no capabilities", `
containers:
- name: nginx
  image: nginx:1.27
`, ""},
	{"other image drops", `
containers:
- name: nginx
  image: nginx:1.27
  securityContext:
    capabilities: {drop: [ALL]}
`, ""},
	{"compliant init and ephemeral containers", `
initContainers:
- name: init
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
containers:
- name: app
  image: busybox
ephemeralContainers:
- name: debug
  image: example.com/ping@` + digestPing + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_RAW, NET_ADMIN]}
`, ""},

	// drop: [ALL]
	{"no securityContext", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
`, "containers server must set securityContext.capabilities.drop: [ALL]"},
	{"drop without ALL", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [NET_RAW], add: [NET_BIND_SERVICE]}
`, "containers server must set securityContext.capabilities.drop: [ALL]"},

	// add: exactly
	{"one capability more", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE, NET_RAW]}
`, "containers server (add exactly [NET_BIND_SERVICE]) must add"},
	{"add ALL", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [ALL]}
`, "containers server (add exactly [NET_BIND_SERVICE])"},
	{"one capability fewer", `
containers:
- name: ping
  image: example.com/ping@` + digestPing + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_RAW]}
`, "containers ping (add exactly [NET_ADMIN, NET_RAW])"},
	{"no add", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL]}
`, "containers server (add exactly [NET_BIND_SERVICE])"},
	{"another image's capabilities", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_RAW, NET_ADMIN]}
`, "containers server (add exactly [NET_BIND_SERVICE])"},
	{"image without capabilities adds one", `
containers:
- name: plain
  image: example.com/plain@` + digestPlain + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [CHOWN]}
`, "containers plain (add exactly [])"},
	{"digest is only a prefix of the image", `
containers:
- name: server
  image: example.com/server@` + digestServer + `0
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server may not add capabilities or be privileged"},

	// allowPrivilegeEscalation: false
	{"allowPrivilegeEscalation unset", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server must set securityContext.allowPrivilegeEscalation: false"},
	{"allowPrivilegeEscalation true", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: true
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server must set securityContext.allowPrivilegeEscalation: false"},

	// runAsNonRoot
	{"runAsNonRoot unset", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server must set runAsNonRoot: true"},
	{"container runAsNonRoot false overrides the pod's", `
securityContext:
  runAsNonRoot: true
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: false
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server must set runAsNonRoot: true"},
	{"runAsUser 0 at pod level", `
securityContext:
  runAsUser: 0
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server must set runAsNonRoot: true (container or pod securityContext) and no runAsUser: 0"},

	// privileged
	{"privileged", `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    privileged: true
    runAsNonRoot: true
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server must not be privileged"},

	// other images
	{"tag-only reference of the server image adds", `
containers:
- name: server
  image: example.com/server:latest
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`, "containers server may not add capabilities or be privileged"},
	{"other image adds", `
containers:
- name: ok
  image: nginx
- name: tcpdump
  image: nicolaka/netshoot
  securityContext:
    capabilities: {add: [NET_RAW]}
`, "containers tcpdump may not add capabilities"},
	{"other image privileged", `
containers:
- name: priv
  image: nicolaka/netshoot
  securityContext:
    privileged: true
`, "containers priv may not add capabilities or be privileged"},

	// every kind of container
	{"init container without drop", `
initContainers:
- name: init
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {add: [NET_BIND_SERVICE]}
containers:` + server, "containers init must set securityContext.capabilities.drop: [ALL]"},
	{"ephemeral container adds more", `
containers:` + server + `
ephemeralContainers:
- name: debug
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE, SYS_PTRACE]}
`, "containers debug (add exactly [NET_BIND_SERVICE])"},
	{"ephemeral container of another image adds", `
containers:` + server + `
ephemeralContainers:
- name: debug
  image: busybox
  securityContext:
    capabilities: {add: [SYS_PTRACE]}
`, "containers debug may not add capabilities"},
}

// installPolicy generates the policy for images with opts, creates it and
// its binding, and waits until the API server enforces it: until the pod
// `probe` gets the answer probeWant from it in namespace ns. A cleanup
// deletes both.
func (cp *controlPlane) installPolicy(t *testing.T, images []admission.Image, opts admission.Options, ns string, probe corev1.PodSpec, probeWant string) {
	t.Helper()
	p, err := admission.Generate(images, opts)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	cp.installPolicyYAML(t, y, ns, probe, probeWant)
}

// installPolicyYAML is installPolicy for the policy's YAML as printed.
func (cp *controlPlane) installPolicyYAML(t *testing.T, y []byte, ns string, probe corev1.PodSpec, probeWant string) {
	t.Helper()
	objs := cp.create(t, y)
	t.Cleanup(func() { cp.remove(t, objs) })
	// The API server compiles the policy in the background, then
	// enforces it. (The type check against the Pod schema that fills the
	// policy's status.typeChecking is a controller manager's job; there is
	// none here.)
	name := objs[0].Metadata.Name
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := cp.decide(t, ns, "enforced", probe)
		if matches(got, probeWant) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy %s not enforced after 60 s: the probe pod got %v, want %q", name, got, probeWant)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// matches reports whether the answer err is what want says ("" admitted).
func matches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

// decide creates the pod as a dry run and returns the API's answer. A pod
// with ephemeral containers is created first without them, for real (the
// API accepts them only through the ephemeralcontainers subresource), then
// updated through that subresource as a dry run.
func (cp *controlPlane) decide(t *testing.T, ns, name string, spec corev1.PodSpec) error {
	t.Helper()
	eph := spec.EphemeralContainers
	spec.EphemeralContainers = nil
	pod := &corev1.Pod{Spec: spec}
	pod.Name = name
	if len(eph) == 0 {
		return cp.createPod(ns, pod, true)
	}
	pod.Name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	if err := cp.createPod(ns, pod, false); err != nil {
		return fmt.Errorf("creating the pod before adding ephemeral containers: %w", err)
	}
	defer func() {
		if err := cp.request("DELETE", "/api/v1/namespaces/"+ns+"/pods/"+pod.Name+"?gracePeriodSeconds=0", nil, nil); err != nil {
			t.Errorf("deleting pod %s: %v", pod.Name, err)
		}
	}()
	got := cp.getPod(t, ns, pod.Name)
	got.Spec.EphemeralContainers = eph
	return cp.request("PUT", "/api/v1/namespaces/"+ns+"/pods/"+pod.Name+"/ephemeralcontainers?dryRun=All", got, nil)
}

// denyProbe is a pod every variant of the policy denies.
const denyProbe = `
containers:
- name: server
  image: example.com/server@` + digestServer + `
`

// TestAdmissionPolicy installs the policy `capslayer admission-policy`
// generates into a real kube-apiserver and creates pods against it: the
// API server's CEL environment and admission chain decide.
func TestAdmissionPolicy(t *testing.T) {
	cp := startControlPlane(t, kubeBins(t))

	t.Run("decisions", func(t *testing.T) {
		ns := "decisions"
		cp.namespace(t, ns, nil)
		cp.installPolicy(t, testImages, admission.Options{Name: "decisions", Namespaces: []string{ns}}, ns, podSpec(t, denyProbe), "must set securityContext.capabilities.drop")
		for _, tc := range policyDecisions {
			t.Run(tc.name, func(t *testing.T) {
				err := cp.decide(t, ns, "p", podSpec(t, tc.spec))
				checkDecision(t, err, tc.want)
			})
		}
	})

	t.Run("options", func(t *testing.T) {
		noEscalationRule := `
containers:
- name: server
  image: example.com/server@` + digestServer + `
  securityContext:
    runAsNonRoot: true
    allowPrivilegeEscalation: true
    capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
`
		othersAdd := `
containers:
- name: tcpdump
  image: nicolaka/netshoot
  securityContext:
    capabilities: {add: [cap_net_raw]}
`
		othersAddMore := `
containers:
- name: tcpdump
  image: nicolaka/netshoot
  securityContext:
    capabilities: {add: [NET_RAW, SYS_ADMIN]}
`
		othersPrivileged := `
containers:
- name: priv
  image: nicolaka/netshoot
  securityContext:
    privileged: true
`
		for i, v := range []struct {
			name  string
			opts  admission.Options
			cases []admissionCase
		}{
			{"allow privilege escalation", admission.Options{AllowPrivilegeEscalation: true}, []admissionCase{
				{"escalation allowed by option", noEscalationRule, ""},
			}},
			{"defaults", admission.Options{}, []admissionCase{
				{"escalation denied by default", noEscalationRule, "must set securityContext.allowPrivilegeEscalation: false"},
			}},
			{"others may add NET_RAW", admission.Options{OthersMayAdd: []string{"NET_RAW"}}, []admissionCase{
				{"others may add NET_RAW", othersAdd, ""},
				{"others may add NET_RAW, not SYS_ADMIN", othersAddMore, "containers tcpdump may add only NET_RAW and may not be privileged"},
				{"others may add NET_RAW, not be privileged", othersPrivileged, "containers priv may add only NET_RAW and may not be privileged"},
			}},
			{"others may add ALL", admission.Options{OthersMayAdd: []string{"all"}}, []admissionCase{
				{"others may add ALL", othersAddMore, ""},
				{"others may add ALL and be privileged", othersPrivileged, ""},
				{"others may add ALL, pinned images still checked", noEscalationRule, "must set securityContext.allowPrivilegeEscalation: false"},
			}},
		} {
			t.Run(v.name, func(t *testing.T) {
				ns := fmt.Sprintf("options-%d", i)
				cp.namespace(t, ns, nil)
				v.opts.Name, v.opts.Namespaces = ns, []string{ns}
				cp.installPolicy(t, testImages, v.opts, ns, podSpec(t, denyProbe), "must set securityContext.capabilities.drop")
				for _, tc := range v.cases {
					t.Run(tc.name, func(t *testing.T) {
						checkDecision(t, cp.decide(t, ns, "p", podSpec(t, tc.spec)), tc.want)
					})
				}
			})
		}
	})

	// The binding: by default every namespace but kube-system; with
	// --namespace only those; with --warn the pod is admitted (with a
	// warning). Run last: the default binding covers every namespace.
	t.Run("binding", func(t *testing.T) {
		for _, ns := range []string{"apps", "web", "other"} {
			cp.namespace(t, ns, nil)
		}
		bad := podSpec(t, denyProbe)
		t.Run("namespaces apps and web", func(t *testing.T) {
			cp.installPolicy(t, testImages, admission.Options{Name: "caps.example.com", Namespaces: []string{"apps", "web"}}, "apps", bad, "must set securityContext.capabilities.drop")
			for ns, denied := range map[string]bool{"apps": true, "web": true, "other": false, "kube-system": false} {
				checkDecision(t, cp.decide(t, ns, "p", bad), map[bool]string{true: "ValidatingAdmissionPolicy 'caps.example.com' with binding 'caps.example.com' denied request"}[denied])
			}
		})
		t.Run("warn", func(t *testing.T) {
			cp.installPolicy(t, testImages, admission.Options{Name: "warn", Namespaces: []string{"web"}, Warn: true}, "web", bad, "")
			_, _, warnings := cp.doWarn(t, "POST", "/api/v1/namespaces/web/pods?dryRun=All", &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: bad})
			if !strings.Contains(warnings, "must set securityContext.capabilities.drop") {
				t.Errorf("--warn: want a warning with the policy's message, got %q", warnings)
			}
		})
		t.Run("defaults", func(t *testing.T) {
			cp.installPolicy(t, testImages, admission.Options{}, "other", bad, "must set securityContext.capabilities.drop")
			for ns, denied := range map[string]bool{"default": true, "apps": true, "other": true, "kube-system": false} {
				checkDecision(t, cp.decide(t, ns, "p", bad), map[bool]string{true: "ValidatingAdmissionPolicy '" + admission.DefaultName + "'"}[denied])
			}
		})
	})
}

func checkDecision(t *testing.T, err error, want string) {
	t.Helper()
	var ae *apiError
	if err != nil && !errors.As(err, &ae) {
		t.Fatal(err)
	}
	switch {
	case want == "" && err != nil:
		t.Errorf("denied, want admitted: %v", err)
	case want != "" && err == nil:
		t.Errorf("admitted, want denied with %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("denied with %v, want a message containing %q", err, want)
	}
}
