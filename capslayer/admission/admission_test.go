package admission

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
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

// decoded is the policy YAML decoded strictly into the k8s.io/api types,
// as `kubectl apply --validate=strict` reads it.
type decoded struct {
	Policy  admissionv1.ValidatingAdmissionPolicy
	Binding admissionv1.ValidatingAdmissionPolicyBinding
}

func load(t *testing.T, opts Options) decoded {
	t.Helper()
	p, err := Generate(testImages, opts)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(y), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("want 2 YAML documents (policy, binding), got %d:\n%s", len(docs), y)
	}
	var d decoded
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &d.Policy); err != nil {
		t.Fatalf("policy: %v\n%s", err, y)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &d.Binding); err != nil {
		t.Fatalf("binding: %v\n%s", err, y)
	}
	if d.Policy.APIVersion != "admissionregistration.k8s.io/v1" || d.Policy.Kind != "ValidatingAdmissionPolicy" ||
		d.Binding.APIVersion != "admissionregistration.k8s.io/v1" || d.Binding.Kind != "ValidatingAdmissionPolicyBinding" {
		t.Fatalf("documents are %s %s and %s %s", d.Policy.APIVersion, d.Policy.Kind, d.Binding.APIVersion, d.Binding.Kind)
	}
	return d
}

// binds reports whether the binding's namespace selector selects the
// namespace (by the label the API server gives every namespace).
func (d decoded) binds(t *testing.T, namespace string) bool {
	t.Helper()
	mr := d.Binding.Spec.MatchResources
	if mr == nil || mr.NamespaceSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(mr.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	return sel.Matches(k8slabels.Set{"kubernetes.io/metadata.name": namespace})
}

// What the policy decides for pods is tested against a real kube-apiserver
// in e2e/kubernetes (TestAdmissionPolicy): its CEL environment, type
// checker and admission chain. These tests check the objects' shape.

func TestBinding(t *testing.T) {
	vp := load(t, Options{})
	if got := vp.Binding.Spec.ValidationActions; len(got) != 1 || got[0] != "Deny" {
		t.Errorf("validationActions = %v, want [Deny]", got)
	}
	if vp.Binding.Spec.PolicyName != vp.Policy.Name || vp.Policy.Name != DefaultName {
		t.Errorf("names: policy %q, binding's policy %q", vp.Policy.Name, vp.Binding.Spec.PolicyName)
	}
	for ns, want := range map[string]bool{"default": true, "apps": true, "kube-system": false} {
		if got := vp.binds(t, ns); got != want {
			t.Errorf("binds namespace %s = %v, want %v", ns, got, want)
		}
	}
	vp = load(t, Options{Namespaces: []string{"apps", "web"}, Warn: true, Name: "caps.example.com"})
	for ns, want := range map[string]bool{"default": false, "apps": true, "web": true, "kube-system": false} {
		if got := vp.binds(t, ns); got != want {
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
