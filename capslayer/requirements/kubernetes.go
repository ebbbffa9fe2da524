package requirements

import (
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
	"github.com/capslayer/rules_capslayer/capslayer/runtimes"
)

// KubernetesAdvice is how to run the image on Kubernetes. Its fields are
// inline in the JSON of a Runtime, and empty (left out) for an engine.
type KubernetesAdvice struct {
	// SecurityContext is the Kubernetes container securityContext.
	SecurityContext *SecurityContext `json:"security_context,omitempty"`
	// PodSecurityLevel is the strictest Pod Security Standards level the
	// securityContext passes, and PodSecurityReason says why it is not
	// stricter.
	PodSecurityLevel  runtimes.PSSLevel `json:"pod_security_level,omitempty"`
	PodSecurityReason string            `json:"pod_security_reason,omitempty"`
}

// SecurityContext is the part of a Kubernetes container securityContext
// that capabilities need. Field names are Kubernetes' (k8s.io/api/core/v1
// SecurityContext), so the JSON and YAML forms parse as one.
type SecurityContext struct {
	RunAsNonRoot             *bool               `json:"runAsNonRoot,omitempty" yaml:"runAsNonRoot,omitempty"`
	RunAsUser                *int64              `json:"runAsUser,omitempty" yaml:"runAsUser,omitempty"`
	RunAsGroup               *int64              `json:"runAsGroup,omitempty" yaml:"runAsGroup,omitempty"`
	AllowPrivilegeEscalation bool                `json:"allowPrivilegeEscalation" yaml:"allowPrivilegeEscalation"`
	Capabilities             CapabilitiesContext `json:"capabilities" yaml:"capabilities"`
	SeccompProfile           SeccompProfile      `json:"seccompProfile" yaml:"seccompProfile"`
	// Comments are written as YAML comments above the mapping.
	Comments []string `json:"-" yaml:"-"`
}

// CapabilitiesContext is securityContext.capabilities.
type CapabilitiesContext struct {
	Drop []string `json:"drop" yaml:"drop,flow"`
	Add  []string `json:"add,omitempty" yaml:"add,flow,omitempty"`
}

// SeccompProfile is securityContext.seccompProfile.
type SeccompProfile struct {
	Type string `json:"type" yaml:"type"`
}

// YAML returns the securityContext as a YAML mapping under the key
// "securityContext", below its Comments, every line indented by indent
// spaces; quote.YAML writes it.
func (sc SecurityContext) YAML(indent int) (string, error) {
	b, err := quote.YAML(struct {
		SecurityContext SecurityContext `yaml:"securityContext"`
	}{sc}, sc.Comments...)
	if err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", indent)
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	return pad + strings.Join(lines, pad) + "\n", nil
}
