// Package runtimes says what container runtimes grant a container: the
// capability sets of the Kubernetes Pod Security Standards levels and of
// Docker's default, and the strictest level a set of capabilities passes.
// It is the one home of that knowledge: package policy names its profiles
// after these sets, and package requirements decides Pod Security levels
// with them.
//
// The sets are caps.Mask constants, so that no importer can change them;
// names are rendered only where a set is printed (caps.Mask.DockerNames).
package runtimes

import (
	"fmt"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

const (
	// DockerDefault is Docker's (moby's) default capability set: the 14
	// capabilities a container gets without --cap-add or --cap-drop,
	// whose bounding set /proc/self/status shows as CapBnd
	// 00000000a80425fb (moby oci/defaults.go defaultCapabilities()):
	// AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
	// NET_BIND_SERVICE, NET_RAW, SETFCAP, SETGID, SETPCAP, SETUID and
	// SYS_CHROOT.
	DockerDefault caps.Mask = 0x00000000a80425fb

	// PSSBaseline is what the Pod Security Standards "baseline" level
	// lets a container add: Docker's default set without NET_RAW, the 13
	// capabilities Trivy's KSV022 and Kyverno's disallow-capabilities
	// allow too (kubernetes.io/docs/concepts/security/pod-security-standards,
	// Baseline, Capabilities).
	PSSBaseline caps.Mask = DockerDefault &^ (1 << 13) // NET_RAW

	// PSSRestricted is what the "restricted" level lets a container add
	// after drop ALL: NET_BIND_SERVICE alone (Restricted, Capabilities,
	// v1.22+; Trivy KSV106; Kyverno disallow-capabilities-strict).
	PSSRestricted caps.Mask = 1 << 10 // NET_BIND_SERVICE
)

// PSSLevel is a Pod Security Standards level.
type PSSLevel string

// The levels, strictest first.
const (
	Restricted PSSLevel = "restricted"
	Baseline   PSSLevel = "baseline"
	Privileged PSSLevel = "privileged"
)

// PodSecurityLevel returns the strictest Pod Security Standards level that
// a container adding the capabilities needed passes, and why it is not
// stricter ("" for restricted). runsAsRoot is whether the container runs
// as root, which restricted forbids (runAsNonRoot: true).
func PodSecurityLevel(needed caps.Mask, runsAsRoot bool) (PSSLevel, string) {
	switch {
	case needed&^PSSBaseline != 0:
		return Privileged, fmt.Sprintf("baseline does not allow adding %s", strings.Join((needed&^PSSBaseline).DockerNames(), ", "))
	case needed&^PSSRestricted != 0:
		return Baseline, fmt.Sprintf("restricted allows adding only %s, not %s", strings.Join(PSSRestricted.DockerNames(), ", "), strings.Join((needed&^PSSRestricted).DockerNames(), ", "))
	case runsAsRoot:
		return Baseline, "restricted requires runAsNonRoot: true, and the image runs as root"
	}
	return Restricted, ""
}
