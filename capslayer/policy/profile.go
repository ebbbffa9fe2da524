package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/runtimes"
)

// Names of the built-in profiles.
const (
	// ProfileRestricted is the Kubernetes Pod Security Standards
	// "restricted" level: drop ALL, only NET_BIND_SERVICE may be added.
	ProfileRestricted = "pss-restricted"
	// ProfileBaseline is the Kubernetes Pod Security Standards "baseline"
	// level: the 13 capabilities that may be added (Docker's defaults
	// without NET_RAW).
	ProfileBaseline = "pss-baseline"
	// ProfileDockerDefault is Docker's (moby's) default capability set, 14
	// capabilities.
	ProfileDockerDefault = "docker-default"
	// ProfileNone allows no capability at all; combine it with extra
	// allowed capabilities for a custom allowlist.
	ProfileNone = "none"
)

// Profile is a named capability allowlist. The built-in ones allow what a
// runtime grants (package runtimes).
type Profile struct {
	// Name is what --profile and the policy file's "profile" take.
	Name string
	// Allowed holds the capabilities the profile allows.
	Allowed caps.Mask
	// Description says what the profile is, in one sentence.
	Description string
	// Source says where the list comes from.
	Source string
}

var profiles = []Profile{
	{
		Name:        ProfileRestricted,
		Allowed:     runtimes.PSSRestricted,
		Description: "Kubernetes Pod Security Standards, restricted: drop ALL, only NET_BIND_SERVICE may be added",
		Source:      "kubernetes.io/docs/concepts/security/pod-security-standards (Restricted, Capabilities v1.22+); Trivy KSV106; Kyverno disallow-capabilities-strict",
	},
	{
		Name:        ProfileBaseline,
		Allowed:     runtimes.PSSBaseline,
		Description: "Kubernetes Pod Security Standards, baseline: the 13 capabilities that may be added (Docker's default set without NET_RAW)",
		Source:      "kubernetes.io/docs/concepts/security/pod-security-standards (Baseline, Capabilities); Trivy KSV022; Kyverno disallow-capabilities",
	},
	{
		Name:        ProfileDockerDefault,
		Allowed:     runtimes.DockerDefault,
		Description: "Docker's default capability set: the 14 capabilities a container gets without --cap-add/--cap-drop (CapBnd 00000000a80425fb)",
		Source:      "moby oci/defaults.go defaultCapabilities()",
	},
	{
		Name:        ProfileNone,
		Allowed:     0,
		Description: "no capability allowed; allow capabilities for a custom allowlist",
		Source:      "capslayer",
	},
}

// Profiles returns the built-in profiles, strictest first.
func Profiles() []Profile {
	return append([]Profile(nil), profiles...)
}

// ProfileNames returns the names of the built-in profiles, strictest first.
func ProfileNames() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// ErrUnknownProfile is wrapped by LookupProfile's error for a name that is
// not a built-in profile.
var ErrUnknownProfile = errors.New("policy: unknown profile")

// LookupProfile returns the built-in profile with the given name. The error
// for an unknown name wraps ErrUnknownProfile and lists the valid ones.
func LookupProfile(name string) (_ Profile, err error) {
	defer errprefix.Add(&err, "policy")
	for _, p := range profiles {
		if p.Name == name {
			return p, nil
		}
	}
	lower := strings.ToLower(strings.TrimSpace(name))
	for _, p := range profiles {
		if p.Name == lower || strings.TrimPrefix(p.Name, "pss-") == lower {
			return Profile{}, fmt.Errorf("%w %q: did you mean %q? (profiles: %s)", ErrUnknownProfile, name, p.Name, strings.Join(ProfileNames(), ", "))
		}
	}
	return Profile{}, fmt.Errorf("%w %q (profiles: %s)", ErrUnknownProfile, name, strings.Join(ProfileNames(), ", "))
}

// ParseCapList parses a comma (or space) separated list of capability names
// as --allow takes them: Docker names (NET_RAW), libcap names (cap_net_raw)
// or CAP_NET_RAW, in any case. "ALL" means every capability 0-63.
func ParseCapList(s string) (_ caps.Mask, err error) {
	defer errprefix.Add(&err, "policy")
	m, err := parseCapList(s)
	if err != nil {
		return 0, fmt.Errorf("policy: %w", err)
	}
	return m, nil
}

// parseCapList is ParseCapList without the package's prefix.
func parseCapList(s string) (caps.Mask, error) {
	var m caps.Mask
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return 0, fmt.Errorf("empty capability list %q: give names like NET_BIND_SERVICE,NET_RAW", s)
	}
	for _, f := range fields {
		if strings.EqualFold(f, "all") {
			m = ^caps.Mask(0)
			continue
		}
		c, err := lookupCap(f)
		if err != nil {
			return 0, err
		}
		m |= 1 << uint(c)
	}
	return m, nil
}

// lookupCap resolves one capability name; the error suggests the closest
// known name.
func lookupCap(name string) (int, error) {
	if c, ok := caps.Lookup(name); ok {
		return c, nil
	}
	msg := fmt.Sprintf("unknown capability %q", name)
	if s := closestCap(name); s != "" {
		msg += fmt.Sprintf(": did you mean %s?", s)
	} else {
		msg += " (names look like NET_BIND_SERVICE or cap_net_bind_service)"
	}
	return 0, fmt.Errorf("%s", msg)
}

// closestCap returns the Docker name of the capability closest to name
// (caps.Closest), or "" when none is close.
func closestCap(name string) string {
	c, ok := caps.Closest(name)
	if !ok {
		return ""
	}
	return caps.DockerName(c)
}
