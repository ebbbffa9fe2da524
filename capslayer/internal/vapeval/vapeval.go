// Package vapeval evaluates a ValidatingAdmissionPolicy over Pod objects the
// way the Kubernetes API server does, for tests: the YAML is decoded
// strictly into the k8s.io/api admissionregistration/v1 types, and the
// expressions run in a cel-go environment built like the API server's.
//
// The API server's own environment lives in k8s.io/apiserver
// (pkg/cel/environment and pkg/admission/plugin/cel), a module that brings
// etcd, gRPC and OpenTelemetry into go.mod and pins cel-go v0.29; this
// package rebuilds that environment from cel-go v0.31.0 instead. What is
// the same: the variables (object, oldObject and params dynamically typed,
// variables.<name> for the policy's variables), the language options
// (homogeneous aggregate literals, cross-type numeric comparisons,
// optional types, UTC time zone, the 1.29 AST validators), the strings
// extension version 2 and the sets extension, and the per-expression cost
// limit of 1,000,000. What differs: the Kubernetes-only libraries (lists,
// regex, URLs, quantity, IP/CIDR, authz, format, semver, image) and the
// request and namespaceObject variables are absent, so an expression
// using them fails to compile here (the generated policy uses none);
// variables are evaluated eagerly in order, where the API server
// evaluates them lazily (the same results, as they have no side effects);
// and the API server type-checks object against the Pod schema only to
// report warnings, which this package does not do.
package vapeval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// PerCallLimit is the API server's cost limit for one expression
// (k8s.io/apiserver/pkg/apis/cel.PerCallLimit).
const PerCallLimit = 1000000

// Policy is a compiled ValidatingAdmissionPolicy and its binding.
type Policy struct {
	Policy  admissionv1.ValidatingAdmissionPolicy
	Binding admissionv1.ValidatingAdmissionPolicyBinding

	variables   []compiled
	validations []compiledValidation
}

type compiled struct {
	name string
	prg  cel.Program
}

type compiledValidation struct {
	expr, msgExpr cel.Program
	message       string
}

// Decision is the outcome of a policy for one object.
type Decision struct {
	// Allowed is true when every validation returned true.
	Allowed bool
	// Messages are the messages of the failed validations, in order.
	Messages []string
}

// DecodeStrict decodes one YAML or JSON document into v, refusing unknown
// and duplicate fields, as `kubectl apply --validate=strict` does.
func DecodeStrict(doc []byte, v any) (err error) {
	defer errprefix.Add(&err, "vapeval")
	return decodeStrict(doc, v)
}

func decodeStrict(doc []byte, v any) error {
	return yaml.UnmarshalStrict(doc, v)
}

// Load decodes a YAML stream holding a ValidatingAdmissionPolicy and its
// binding (in that order) strictly into the k8s.io/api types and compiles
// every expression.
func Load(stream []byte) (_ *Policy, err error) {
	defer errprefix.Add(&err, "vapeval")
	docs := splitYAML(stream)
	if len(docs) != 2 {
		return nil, fmt.Errorf("want 2 YAML documents (policy, binding), got %d", len(docs))
	}
	p := &Policy{}
	if err := decodeStrict(docs[0], &p.Policy); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := decodeStrict(docs[1], &p.Binding); err != nil {
		return nil, fmt.Errorf("binding: %w", err)
	}
	if p.Policy.APIVersion != "admissionregistration.k8s.io/v1" || p.Policy.Kind != "ValidatingAdmissionPolicy" {
		return nil, fmt.Errorf("first document is %s %s, want admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy", p.Policy.APIVersion, p.Policy.Kind)
	}
	if p.Binding.APIVersion != "admissionregistration.k8s.io/v1" || p.Binding.Kind != "ValidatingAdmissionPolicyBinding" {
		return nil, fmt.Errorf("second document is %s %s, want admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding", p.Binding.APIVersion, p.Binding.Kind)
	}
	if p.Binding.Spec.PolicyName != p.Policy.Name {
		return nil, fmt.Errorf("binding names policy %q, the policy is %q", p.Binding.Spec.PolicyName, p.Policy.Name)
	}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	for _, v := range p.Policy.Spec.Variables {
		prg, err := compile(env, v.Expression, nil)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		p.variables = append(p.variables, compiled{v.Name, prg})
	}
	for i, v := range p.Policy.Spec.Validations {
		prg, err := compile(env, v.Expression, cel.BoolType)
		if err != nil {
			return nil, fmt.Errorf("validation %d: %w", i, err)
		}
		cv := compiledValidation{expr: prg, message: v.Message}
		if v.MessageExpression != "" {
			if cv.msgExpr, err = compile(env, v.MessageExpression, cel.StringType); err != nil {
				return nil, fmt.Errorf("validation %d messageExpression: %w", i, err)
			}
		}
		p.validations = append(p.validations, cv)
	}
	return p, nil
}

// NewEnv returns the CEL environment of ValidatingAdmissionPolicy
// expressions (see the package comment for what differs from the API
// server's).
func NewEnv() (_ *cel.Env, err error) {
	defer errprefix.Add(&err, "vapeval")
	return newEnv()
}

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals(),
		),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("params", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)),
	)
}

func compile(env *cel.Env, expr string, want *cel.Type) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if want != nil && !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("expression returns %s, want %s", ast.OutputType(), want)
	}
	return env.Program(ast,
		cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
		cel.CostLimit(PerCallLimit),
		cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
	)
}

// Evaluate runs the policy's validations over pod (the object of a CREATE
// request) and returns the decision. An evaluation error is returned as an
// error: with failurePolicy Fail the API server would deny the request.
func (p *Policy) Evaluate(pod *corev1.Pod) (_ Decision, err error) {
	defer errprefix.Add(&err, "vapeval")
	obj, err := objectOf(pod)
	if err != nil {
		return Decision{}, err
	}
	vars := map[string]any{}
	act := map[string]any{"object": obj, "oldObject": nil, "params": nil, "variables": vars}
	for _, v := range p.variables {
		out, _, err := v.prg.Eval(act)
		if err != nil {
			return Decision{}, fmt.Errorf("variable %s: %w", v.name, err)
		}
		vars[v.name] = out
	}
	d := Decision{Allowed: true}
	for i, v := range p.validations {
		out, _, err := v.expr.Eval(act)
		if err != nil {
			return Decision{}, fmt.Errorf("validation %d: %w", i, err)
		}
		ok, isBool := out.Value().(bool)
		if !isBool {
			return Decision{}, fmt.Errorf("validation %d returned %v, not a bool", i, out.Value())
		}
		if ok {
			continue
		}
		d.Allowed = false
		msg := v.message
		if v.msgExpr != nil {
			m, _, err := v.msgExpr.Eval(act)
			if err != nil {
				return Decision{}, fmt.Errorf("validation %d messageExpression: %w", i, err)
			}
			msg = fmt.Sprint(m.Value())
		}
		d.Messages = append(d.Messages, msg)
	}
	return d, nil
}

// Binds reports whether the binding selects a namespace with these labels
// (kubernetes.io/metadata.name is set to name).
func (p *Policy) Binds(namespace string, nsLabels map[string]string) (_ bool, err error) {
	defer errprefix.Add(&err, "vapeval")
	mr := p.Binding.Spec.MatchResources
	if mr == nil || mr.NamespaceSelector == nil {
		return true, nil
	}
	l := map[string]string{"kubernetes.io/metadata.name": namespace}
	for k, v := range nsLabels {
		l[k] = v
	}
	sel, err := metav1.LabelSelectorAsSelector(mr.NamespaceSelector)
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(l)), nil
}

// ObjectOf converts a typed object to the shape CEL sees in the API
// server: its JSON form as maps, lists, strings, booleans and int64 (or
// float64) numbers.
func ObjectOf(obj any) (_ any, err error) {
	defer errprefix.Add(&err, "vapeval")
	return objectOf(obj)
}

func objectOf(obj any) (any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// splitYAML splits a YAML stream at "---" lines, dropping documents that
// hold only comments or blanks.
func splitYAML(stream []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(stream), "\n") {
		if strings.TrimRight(line, "\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func hasContent(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// DecodePod decodes a Pod from YAML or JSON strictly.
func DecodePod(r io.Reader) (_ *corev1.Pod, err error) {
	defer errprefix.Add(&err, "vapeval")
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := decodeStrict(b, &pod); err != nil {
		return nil, err
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" {
		return nil, errors.New("not a v1 Pod")
	}
	return &pod, nil
}
