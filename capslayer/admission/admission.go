package admission

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
)

// DefaultName is the name of the policy and of its binding.
const DefaultName = "capslayer-capabilities"

// DefaultExcludedNamespaces are the namespaces the binding leaves out when
// Options.Namespaces is empty: system pods (CNI, kube-proxy) add
// capabilities and run privileged, and a policy that stops them breaks the
// cluster.
var DefaultExcludedNamespaces = []string{"kube-system"}

// Image is one image the policy covers.
type Image struct {
	// Digest is the manifest digest, "sha256:<64 hex digits>": the digest a
	// registry serves the image under and a pod pins it with.
	Digest string
	// Name is the image's name (a tag), written in a comment only.
	Name string
	// Capabilities are the capabilities the image's files carry (what
	// `capslayer requirements` lists): the only ones a container running
	// the image may add, and the ones it must add. Each must have a name
	// Kubernetes can spell.
	Capabilities caps.Mask
}

// Options change the policy.
type Options struct {
	// Name names the policy and the binding; empty means DefaultName.
	Name string
	// OthersMayAdd lists the capabilities containers of other images may
	// add (Kubernetes names); "ALL" lets them add any and be privileged.
	OthersMayAdd []string
	// AllowPrivilegeEscalation drops the allowPrivilegeEscalation: false
	// rule, for runtimes where no_new_privs loses file capabilities (the
	// Docker engine gives a non-root container only the bounding set).
	AllowPrivilegeEscalation bool
	// Namespaces limits the binding to these namespaces; empty means every
	// namespace except DefaultExcludedNamespaces.
	Namespaces []string
	// Warn makes the binding warn and audit instead of deny, to try the
	// policy on a running cluster.
	Warn bool
}

// Errors returned by Generate; they wrap the details.
var (
	ErrNoImages   = errors.New("admission: no image")
	ErrDigest     = errors.New("admission: not a sha256 manifest digest")
	ErrCapability = errors.New("admission: not a capability Kubernetes can name")
	ErrName       = errors.New("admission: not a Kubernetes object name")
)

// OptionError reports a bad value in Options; Option is the field's name
// ("Name", "OthersMayAdd", "Namespaces"), so that callers can name their
// own flag or attribute; the message is Err's and names no Go field.
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// A DNS-1123 subdomain, the rule for both objects' names.
	nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// Policy is a ValidatingAdmissionPolicy and its binding.
type Policy struct {
	Policy  ValidatingAdmissionPolicy
	Binding ValidatingAdmissionPolicyBinding
	images  []Image
}

// Generate builds the policy for images. Images are sorted by digest and
// repeated digests (two tags of one image) merged, so the output depends
// only on the set of images.
func Generate(images []Image, opts Options) (_ *Policy, err error) {
	defer errprefix.Add(&err, "admission")
	if len(images) == 0 {
		return nil, ErrNoImages
	}
	name := opts.Name
	if name == "" {
		name = DefaultName
	}
	if len(name) > 253 || !nameRE.MatchString(name) {
		return nil, &OptionError{"Name", fmt.Errorf("%w: %q (lower case letters, digits, '-' and '.')", ErrName, name)}
	}
	byDigest := map[string]Image{}
	for _, im := range images {
		if !digestRE.MatchString(im.Digest) {
			return nil, fmt.Errorf("%w: image %s has digest %q", ErrDigest, im.Name, im.Digest)
		}
		if _, err := maskNames(im.Capabilities); err != nil {
			return nil, fmt.Errorf("%w, in image %s", err, im.Name)
		}
		if prev, ok := byDigest[im.Digest]; ok {
			if prev.Capabilities != im.Capabilities {
				return nil, fmt.Errorf("admission: image %s (%s) is given twice with different capabilities: %v and %v", im.Digest, im.Name, prev.Capabilities.DockerNames(), im.Capabilities.DockerNames())
			}
			if im.Name != "" && !strings.Contains(prev.Name, im.Name) {
				prev.Name += ", " + im.Name
				byDigest[im.Digest] = prev
			}
			continue
		}
		byDigest[im.Digest] = im
	}
	var sorted []Image
	for _, im := range byDigest {
		sorted = append(sorted, im)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Digest < sorted[j].Digest })

	var others []string
	othersAll := false
	for _, n := range opts.OthersMayAdd {
		if strings.EqualFold(n, "ALL") {
			othersAll = true
			continue
		}
		kn, err := kubeNames([]string{n})
		if err != nil {
			return nil, &OptionError{"OthersMayAdd", err}
		}
		others = append(others, kn...)
	}
	others = uniqueSorted(others)

	for _, ns := range opts.Namespaces {
		if len(ns) > 63 || !nameRE.MatchString(ns) || strings.Contains(ns, ".") {
			return nil, &OptionError{"Namespaces", fmt.Errorf("%w: namespace %q", ErrName, ns)}
		}
	}

	p := &Policy{images: sorted}
	p.Policy = buildPolicy(name, sorted, others, othersAll, opts)
	p.Binding = buildBinding(name, opts)
	return p, nil
}

// kubeNames checks capability names and returns them as Kubernetes spells
// them (upper case, no CAP_ prefix), sorted and without repeats.
func kubeNames(in []string) ([]string, error) {
	var out []string
	for _, n := range in {
		c, ok := caps.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrCapability, n)
		}
		out = append(out, caps.DockerName(c))
	}
	return uniqueSorted(out), nil
}

// maskNames returns the names of m as Kubernetes spells them, sorted; a
// capability without a name is an error.
func maskNames(m caps.Mask) ([]string, error) {
	for _, c := range m.List() {
		if c >= caps.NamedCount {
			return nil, fmt.Errorf("%w: %q", ErrCapability, caps.DockerName(c))
		}
	}
	return uniqueSorted(m.DockerNames()), nil
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []string{}
	}
	return out
}

// YAML returns the policy and the binding as one YAML stream of two
// documents written by quote.YAML, headed by a comment that names the
// images (their names escaped: they come from the images).
func (p *Policy) YAML() (_ []byte, err error) {
	defer errprefix.Add(&err, "admission")
	head := []string{
		"Generated by capslayer admission-policy. Install: kubectl apply -f FILE",
		"(Kubernetes 1.30 or later; see docs/admission.md). Images and the",
		"capabilities their containers must add:",
	}
	for _, im := range p.images {
		name := printable.String(im.Name)
		if name == "" {
			name = "(no name)"
		}
		names, _ := maskNames(im.Capabilities) // checked by Generate
		c := strings.Join(names, ", ")
		if c == "" {
			c = "none"
		}
		head = append(head, fmt.Sprintf("  %s %s: %s", im.Digest, name, c))
	}
	policy, err := quote.YAML(p.Policy, head...)
	if err != nil {
		return nil, err
	}
	binding, err := quote.YAML(p.Binding)
	if err != nil {
		return nil, err
	}
	return slices.Concat(policy, []byte("---\n"), binding), nil
}

// The admissionregistration.k8s.io/v1 types, only the fields used; yaml
// names are the API's JSON names.
type (
	// ValidatingAdmissionPolicy is admissionregistration.k8s.io/v1's.
	ValidatingAdmissionPolicy struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   ObjectMeta `yaml:"metadata"`
		Spec       PolicySpec `yaml:"spec"`
	}
	// ObjectMeta holds the object's name and labels.
	ObjectMeta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels,omitempty"`
	}
	// PolicySpec is ValidatingAdmissionPolicySpec.
	PolicySpec struct {
		FailurePolicy    string         `yaml:"failurePolicy"`
		MatchConstraints MatchResources `yaml:"matchConstraints"`
		Variables        []Variable     `yaml:"variables"`
		Validations      []Validation   `yaml:"validations"`
	}
	// MatchResources selects the requests a policy or binding applies to.
	MatchResources struct {
		NamespaceSelector *LabelSelector `yaml:"namespaceSelector,omitempty"`
		ResourceRules     []ResourceRule `yaml:"resourceRules,omitempty"`
	}
	// LabelSelector is metav1.LabelSelector with match expressions only.
	LabelSelector struct {
		MatchExpressions []LabelSelectorRequirement `yaml:"matchExpressions"`
	}
	// LabelSelectorRequirement is metav1.LabelSelectorRequirement.
	LabelSelectorRequirement struct {
		Key      string   `yaml:"key"`
		Operator string   `yaml:"operator"`
		Values   []string `yaml:"values"`
	}
	// ResourceRule is NamedRuleWithOperations.
	ResourceRule struct {
		APIGroups   []string `yaml:"apiGroups"`
		APIVersions []string `yaml:"apiVersions"`
		Operations  []string `yaml:"operations"`
		Resources   []string `yaml:"resources"`
	}
	// Variable is a named CEL expression, visible to later ones as
	// variables.<name>.
	Variable struct {
		Name       string `yaml:"name"`
		Expression string `yaml:"expression"`
	}
	// Validation is a CEL expression that must be true.
	Validation struct {
		Expression        string `yaml:"expression"`
		Message           string `yaml:"message"`
		MessageExpression string `yaml:"messageExpression"`
		Reason            string `yaml:"reason"`
	}
	// ValidatingAdmissionPolicyBinding is admissionregistration.k8s.io/v1's.
	ValidatingAdmissionPolicyBinding struct {
		APIVersion string      `yaml:"apiVersion"`
		Kind       string      `yaml:"kind"`
		Metadata   ObjectMeta  `yaml:"metadata"`
		Spec       BindingSpec `yaml:"spec"`
	}
	// BindingSpec is ValidatingAdmissionPolicyBindingSpec.
	BindingSpec struct {
		PolicyName        string         `yaml:"policyName"`
		ValidationActions []string       `yaml:"validationActions"`
		MatchResources    MatchResources `yaml:"matchResources"`
	}
)

const apiVersion = "admissionregistration.k8s.io/v1"

var labels = map[string]string{"app.kubernetes.io/managed-by": "capslayer"}

func buildBinding(name string, opts Options) ValidatingAdmissionPolicyBinding {
	sel := LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: "NotIn", Values: DefaultExcludedNamespaces}
	if len(opts.Namespaces) > 0 {
		sel = LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: "In", Values: uniqueSorted(append([]string(nil), opts.Namespaces...))}
	}
	actions := []string{"Deny"}
	if opts.Warn {
		actions = []string{"Warn", "Audit"}
	}
	return ValidatingAdmissionPolicyBinding{
		APIVersion: apiVersion,
		Kind:       "ValidatingAdmissionPolicyBinding",
		Metadata:   ObjectMeta{Name: name, Labels: labels},
		Spec: BindingSpec{
			PolicyName:        name,
			ValidationActions: actions,
			MatchResources:    MatchResources{NamespaceSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{sel}}},
		},
	}
}

// CEL building blocks. c is the container variable of the macros.
const (
	sc     = "c.securityContext"
	podSC  = "object.spec.securityContext"
	capsOf = sc + ".capabilities"
)

// has returns has(x.a) && has(x.a.b) && ... for the path base.f1.f2...
func has(base string, fields ...string) string {
	var parts []string
	p := base
	for _, f := range fields {
		p += "." + f
		parts = append(parts, "has("+p+")")
	}
	return strings.Join(parts, " && ")
}

// celList writes a CEL list of string literals.
func celList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote.CEL(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func buildPolicy(name string, images []Image, others []string, othersAll bool, opts Options) ValidatingAdmissionPolicy {
	// adds is the container's capabilities.add, or [] when absent.
	adds := "(" + has("c", "securityContext", "capabilities", "add") + " ? " + capsOf + ".add : [])"
	privileged := "(" + has("c", "securityContext", "privileged") + " && " + sc + ".privileged == true)"
	pinned := "variables.required.exists(d, c.image.endsWith(\"@\" + d))"

	var req strings.Builder
	req.WriteString("{")
	for i, im := range images {
		if i > 0 {
			req.WriteString(",")
		}
		names, _ := maskNames(im.Capabilities) // checked by Generate
		fmt.Fprintf(&req, "\n  %s: %s", quote.CEL(im.Digest), celList(names))
	}
	req.WriteString("\n}")

	vars := []Variable{
		{Name: "containers", Expression: "(has(object.spec.containers) ? object.spec.containers : [])\n" +
			"+ (has(object.spec.initContainers) ? object.spec.initContainers : [])\n" +
			"+ (has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers : [])"},
		// Manifest digest -> the capabilities its files carry.
		{Name: "required", Expression: req.String()},
		{Name: "pinned", Expression: "variables.containers.filter(c, " + pinned + ")"},
		{Name: "others", Expression: "variables.containers.filter(c, !" + pinned + ")"},
		{Name: "noDropAll", Expression: "variables.pinned.filter(c, !(" + has("c", "securityContext", "capabilities", "drop") + " && \"ALL\" in " + capsOf + ".drop)).map(c, c.name)"},
		// add must equal the image's set: every added name is in it and
		// every name of it is added, compared upper-cased, CAP_ optional.
		{Name: "wrongAdd", Expression: "variables.pinned.filter(c, !variables.required.exists(d, c.image.endsWith(\"@\" + d)\n" +
			"  && " + adds + ".all(a, a.upperAscii() in variables.required[d] || a.upperAscii() in variables.required[d].map(r, \"CAP_\" + r))\n" +
			"  && variables.required[d].all(r, " + adds + ".exists(a, a.upperAscii() == r || a.upperAscii() == \"CAP_\" + r))))\n" +
			".map(c, c.name + \" (add exactly [\" + variables.required.filter(d, c.image.endsWith(\"@\" + d)).map(d, variables.required[d].join(\", \")).join(\"\") + \"])\")"},
		{Name: "privileged", Expression: "variables.pinned.filter(c, " + privileged + ").map(c, c.name)"},
		// runAsNonRoot and runAsUser: the container's value, else the pod's.
		{Name: "root", Expression: "variables.pinned.filter(c,\n" +
			"  !((" + has("c", "securityContext", "runAsNonRoot") + ") ? " + sc + ".runAsNonRoot == true : (" + has("object.spec", "securityContext", "runAsNonRoot") + " && " + podSC + ".runAsNonRoot == true))\n" +
			"  || ((" + has("c", "securityContext", "runAsUser") + ") ? " + sc + ".runAsUser == 0 : (" + has("object.spec", "securityContext", "runAsUser") + " && " + podSC + ".runAsUser == 0)))\n" +
			".map(c, c.name)"},
	}
	const suffix = `: their images carry file capabilities (ValidatingAdmissionPolicy capslayer-capabilities)`
	// must is the validation that variables.v lists no container: the
	// containers of images with file capabilities must do what short says,
	// and the message names them and says it as long does.
	must := func(v, short, long string) Validation {
		return Validation{
			Expression:        "size(variables." + v + ") == 0",
			Message:           "containers of images with file capabilities must " + short,
			MessageExpression: `"containers " + variables.` + v + `.join(", ") + " must ` + long + `"`,
		}
	}
	vals := []Validation{
		must("noDropAll", "set securityContext.capabilities.drop: [ALL]", "set securityContext.capabilities.drop: [ALL]"+suffix),
		must("wrongAdd", "add exactly the capabilities their files carry", "add in securityContext.capabilities.add exactly the capabilities their image's files carry, no more, no fewer"),
		must("privileged", "not be privileged", "not be privileged"+suffix),
		must("root", "run as non-root: runAsNonRoot: true and no runAsUser: 0", "set runAsNonRoot: true (container or pod securityContext) and no runAsUser: 0"+suffix),
	}
	if !opts.AllowPrivilegeEscalation {
		vars = append(vars, Variable{Name: "escalation", Expression: "variables.pinned.filter(c, !(" + has("c", "securityContext", "allowPrivilegeEscalation") + " && " + sc + ".allowPrivilegeEscalation == false)).map(c, c.name)"})
		vals = append(vals, must("escalation", "set securityContext.allowPrivilegeEscalation: false", "set securityContext.allowPrivilegeEscalation: false"+suffix))
	}
	if !othersAll {
		allowed := append(append([]string(nil), others...), prefixed(others)...)
		vars = append(vars, Variable{Name: "othersAdding", Expression: "variables.others.filter(c, " + privileged + "\n" +
			"  || " + adds + ".exists(a, !(a.upperAscii() in " + celList(allowed) + ")))\n" +
			".map(c, c.name)"})
		what := "may not add capabilities or be privileged"
		if len(others) > 0 {
			what = "may add only " + strings.Join(others, ", ") + " and may not be privileged"
		}
		vals = append(vals, Validation{
			Expression:        "size(variables.othersAdding) == 0",
			Message:           "containers of images that are not pinned by digest to an image of the policy " + what,
			MessageExpression: `"containers " + variables.othersAdding.join(", ") + " ` + what + `: only images pinned by digest (IMAGE@sha256:...) to an image of ValidatingAdmissionPolicy capslayer-capabilities get capabilities"`,
		})
	}
	for i := range vals {
		vals[i].Reason = "Forbidden"
		vals[i].MessageExpression = strings.ReplaceAll(vals[i].MessageExpression, "capslayer-capabilities", name)
		vals[i].Message = strings.ReplaceAll(vals[i].Message, "capslayer-capabilities", name)
	}
	return ValidatingAdmissionPolicy{
		APIVersion: apiVersion,
		Kind:       "ValidatingAdmissionPolicy",
		Metadata:   ObjectMeta{Name: name, Labels: labels},
		Spec: PolicySpec{
			FailurePolicy: "Fail",
			MatchConstraints: MatchResources{ResourceRules: []ResourceRule{{
				APIGroups:   []string{""},
				APIVersions: []string{"v1"},
				// UPDATE: a pod's container image can change, and
				// ephemeral containers are added by an update of the
				// pods/ephemeralcontainers subresource.
				Operations: []string{"CREATE", "UPDATE"},
				Resources:  []string{"pods", "pods/ephemeralcontainers"},
			}}},
			Variables:   vars,
			Validations: vals,
		},
	}
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "CAP_" + n
	}
	return out
}
