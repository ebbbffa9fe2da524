package requirements

import (
	"fmt"
	"strconv"
	"strings"
)

// KubernetesAdvice is how to run the image on Kubernetes. Its fields are
// inline in the JSON of a Runtime, and empty (left out) for an engine.
type KubernetesAdvice struct {
	// SecurityContext is the Kubernetes container securityContext.
	SecurityContext *SecurityContext `json:"security_context,omitempty"`
	// PodSecurityLevel is the strictest Pod Security Standards level the
	// securityContext passes, and PodSecurityReason says why it is not
	// stricter.
	PodSecurityLevel  PSSLevel `json:"pod_security_level,omitempty"`
	PodSecurityReason string   `json:"pod_security_reason,omitempty"`
}

// PSSLevel is a Pod Security Standards level.
type PSSLevel string

// The Pod Security Standards levels, strictest first.
const (
	PSSRestricted PSSLevel = "restricted"
	PSSBaseline   PSSLevel = "baseline"
	PSSPrivileged PSSLevel = "privileged"
)

// SecurityContext is the part of a Kubernetes container securityContext
// that capabilities need. Field names are Kubernetes' (k8s.io/api/core/v1
// SecurityContext), so the JSON and YAML forms parse as one.
type SecurityContext struct {
	RunAsNonRoot             *bool               `json:"runAsNonRoot,omitempty"`
	RunAsUser                *int64              `json:"runAsUser,omitempty"`
	RunAsGroup               *int64              `json:"runAsGroup,omitempty"`
	AllowPrivilegeEscalation bool                `json:"allowPrivilegeEscalation"`
	Capabilities             CapabilitiesContext `json:"capabilities"`
	SeccompProfile           SeccompProfile      `json:"seccompProfile"`
	// Comments are written as YAML comments above the mapping.
	Comments []string `json:"-"`
}

// CapabilitiesContext is securityContext.capabilities.
type CapabilitiesContext struct {
	Drop []string `json:"drop"`
	Add  []string `json:"add,omitempty"`
}

// SeccompProfile is securityContext.seccompProfile.
type SeccompProfile struct {
	Type string `json:"type"`
}

// YAML returns the securityContext as a YAML mapping under the key
// "securityContext", indented by indent spaces. It is written by hand (a
// dozen fixed lines) to keep the field order of the Kubernetes docs and
// the comments; the tests parse it with a YAML parser into the Kubernetes
// type.
func (sc SecurityContext) YAML(indent int) string {
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	for _, c := range sc.Comments {
		fmt.Fprintf(&b, "%s# %s\n", pad, c)
	}
	fmt.Fprintf(&b, "%ssecurityContext:\n", pad)
	if sc.RunAsNonRoot != nil {
		fmt.Fprintf(&b, "%s  runAsNonRoot: %t\n", pad, *sc.RunAsNonRoot)
	}
	if sc.RunAsUser != nil {
		fmt.Fprintf(&b, "%s  runAsUser: %d\n", pad, *sc.RunAsUser)
	}
	if sc.RunAsGroup != nil {
		fmt.Fprintf(&b, "%s  runAsGroup: %d\n", pad, *sc.RunAsGroup)
	}
	fmt.Fprintf(&b, "%s  allowPrivilegeEscalation: %t\n", pad, sc.AllowPrivilegeEscalation)
	fmt.Fprintf(&b, "%s  capabilities:\n", pad)
	fmt.Fprintf(&b, "%s    drop: [%s]\n", pad, yamlList(sc.Capabilities.Drop))
	if len(sc.Capabilities.Add) > 0 {
		fmt.Fprintf(&b, "%s    add: [%s]\n", pad, yamlList(sc.Capabilities.Add))
	}
	fmt.Fprintf(&b, "%s  seccompProfile:\n", pad)
	fmt.Fprintf(&b, "%s    type: %s\n", pad, sc.SeccompProfile.Type)
	return b.String()
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
