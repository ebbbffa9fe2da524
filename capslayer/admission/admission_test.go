package admission

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/vapeval"
	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/policy.yaml")

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

var testImages = []Image{
	{Digest: digestServer, Name: "example.com/server:latest", Capabilities: capsMask("NET_BIND_SERVICE")},
	{Digest: digestPing, Name: "example.com/ping:1", Capabilities: capsMask("cap_net_raw", "NET_ADMIN")},
	{Digest: digestPlain, Name: "example.com/plain:1"},
}

func load(t *testing.T, opts Options) *vapeval.Policy {
	t.Helper()
	p, err := Generate(testImages, opts)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	vp, err := vapeval.Load(y)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return vp
}

// pod decodes a Pod strictly from YAML whose spec is given.
func pod(t *testing.T, spec string) *corev1.Pod {
	t.Helper()
	doc := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\nspec:\n" + indent(strings.TrimLeft(spec, "\n"), "  ")
	p, err := vapeval.DecodePod(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("decoding the pod: %v\n%s", err, doc)
	}
	return p
}

func indent(s, by string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "\n")
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

func TestPolicyDecisions(t *testing.T) {
	vp := load(t, Options{})
	cases := []struct {
		name string
		spec string
		// want is "" for allowed, else a substring of the denial.
		want string
	}{
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
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := vp.Evaluate(pod(t, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !d.Allowed {
					t.Fatalf("denied, want allowed: %q", d.Messages)
				}
				return
			}
			if d.Allowed {
				t.Fatalf("allowed, want denied with %q", tc.want)
			}
			if !strings.Contains(strings.Join(d.Messages, "\n"), tc.want) {
				t.Fatalf("denied with %q, want a message containing %q", d.Messages, tc.want)
			}
		})
	}
}

func TestOptions(t *testing.T) {
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
	cases := []struct {
		name    string
		opts    Options
		spec    string
		allowed bool
	}{
		{"escalation allowed by option", Options{AllowPrivilegeEscalation: true}, noEscalationRule, true},
		{"escalation denied by default", Options{}, noEscalationRule, false},
		{"others may add NET_RAW", Options{OthersMayAdd: []string{"NET_RAW"}}, othersAdd, true},
		{"others may add NET_RAW, not SYS_ADMIN", Options{OthersMayAdd: []string{"NET_RAW"}}, othersAddMore, false},
		{"others may add NET_RAW, not be privileged", Options{OthersMayAdd: []string{"NET_RAW"}}, othersPrivileged, false},
		{"others may add ALL", Options{OthersMayAdd: []string{"all"}}, othersAddMore, true},
		{"others may add ALL and be privileged", Options{OthersMayAdd: []string{"ALL"}}, othersPrivileged, true},
		{"others may add ALL, pinned images still checked", Options{OthersMayAdd: []string{"ALL"}}, noEscalationRule, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := load(t, tc.opts).Evaluate(pod(t, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%q)", d.Allowed, tc.allowed, d.Messages)
			}
		})
	}
}

func TestBinding(t *testing.T) {
	vp := load(t, Options{})
	if got := vp.Binding.Spec.ValidationActions; len(got) != 1 || got[0] != "Deny" {
		t.Errorf("validationActions = %v, want [Deny]", got)
	}
	for ns, want := range map[string]bool{"default": true, "apps": true, "kube-system": false} {
		got, err := vp.Binds(ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("binds namespace %s = %v, want %v", ns, got, want)
		}
	}
	vp = load(t, Options{Namespaces: []string{"apps", "web"}, Warn: true, Name: "caps.example.com"})
	for ns, want := range map[string]bool{"default": false, "apps": true, "web": true, "kube-system": false} {
		got, err := vp.Binds(ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("--namespace apps,web: binds namespace %s = %v, want %v", ns, got, want)
		}
	}
	if got := vp.Binding.Spec.ValidationActions; len(got) != 2 || got[0] != "Warn" || got[1] != "Audit" {
		t.Errorf("Warn: validationActions = %v, want [Warn Audit]", got)
	}
	if vp.Policy.Name != "caps.example.com" || vp.Binding.Spec.PolicyName != "caps.example.com" {
		t.Errorf("names: policy %q, binding's policy %q", vp.Policy.Name, vp.Binding.Spec.PolicyName)
	}
	rr := vp.Policy.Spec.MatchConstraints.ResourceRules
	if len(rr) != 1 || strings.Join(rr[0].Resources, ",") != "pods,pods/ephemeralcontainers" {
		t.Errorf("resource rules = %+v", rr)
	}
}

// TestGolden pins the YAML byte for byte: the output depends only on the
// set of images and the options.
func TestGolden(t *testing.T) {
	// Reversed order and a repeated digest give the same bytes.
	imgs := []Image{testImages[2], testImages[1], testImages[0], {Digest: digestServer, Name: "example.com/server:v1", Capabilities: capsMask("CAP_NET_BIND_SERVICE")}}
	p, err := Generate(imgs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "policy.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./capslayer/admission -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (go test ./capslayer/admission -update rewrites it):\n%s", golden, got)
	}
}

func TestGenerateErrors(t *testing.T) {
	cases := []struct {
		name   string
		images []Image
		opts   Options
		want   error
		msg    string
	}{
		{"no images", nil, Options{}, ErrNoImages, ""},
		{"tag instead of digest", []Image{{Digest: "latest", Name: "x"}}, Options{}, ErrDigest, `image x has digest "latest"`},
		{"sha512", []Image{{Digest: "sha512:" + strings.Repeat("a", 128)}}, Options{}, ErrDigest, ""},
		{"unnamed capability", []Image{{Digest: digestServer, Name: "s", Capabilities: caps.MaskOf(45)}}, Options{}, ErrCapability, `admission: not a capability Kubernetes can name: "45", in image s`},
		{"unknown capability in OthersMayAdd", testImages, Options{OthersMayAdd: []string{"RAW"}}, ErrCapability, ""},
		{"bad name", testImages, Options{Name: "Caps_Policy"}, ErrName, ""},
		{"bad namespace", testImages, Options{Namespaces: []string{"a.b"}}, ErrName, ""},
		{"same digest, different capabilities", []Image{testImages[0], {Digest: digestServer, Capabilities: capsMask("NET_RAW")}}, Options{}, nil, "given twice with different capabilities"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.images, tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "admission: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}
