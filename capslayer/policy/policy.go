package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/strictjson"
)

// DefaultMaxCaps is the number of capabilities a file may carry without a
// written justification, after the "Capabilities for Containers" hardening
// drill: "For any service requiring more than 3 caps, write a one-paragraph
// justification."
const DefaultMaxCaps = 3

// NoLimit as Policy.MaxCaps turns the too-many-capabilities rule off.
const NoLimit = -1

// Policy is what Audit checks an image against.
type Policy struct {
	// Profile is the name of a built-in profile (see Profiles). Empty means
	// ProfileNone.
	Profile string
	// Allow holds capabilities allowed in addition to the profile's.
	Allow caps.Mask
	// MaxCaps is the number of capabilities a file may have before each of
	// them needs a justification; NoLimit turns the rule off and 0 makes
	// every capability need one. Default sets it to DefaultMaxCaps.
	MaxCaps int
	// Justifications are the written reasons for capabilities that the
	// dangerous-capability and too-many-capabilities rules ask for.
	Justifications []Justification
}

// Default returns the policy for profile with MaxCaps set to
// DefaultMaxCaps.
func Default(profile string) Policy {
	return Policy{Profile: profile, MaxCaps: DefaultMaxCaps}
}

// Validate reports the first problem that makes p unusable.
func (p Policy) Validate() (err error) {
	defer errprefix.Add(&err, "policy")
	return p.validate()
}

// validate is Validate without the package's prefix.
func (p Policy) validate() error {
	if _, err := p.profile(); err != nil {
		return err
	}
	if p.MaxCaps < NoLimit {
		return fmt.Errorf("max caps %d: give a number >= 0, or %d to turn the rule off", p.MaxCaps, NoLimit)
	}
	for _, j := range p.Justifications {
		if err := j.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (p Policy) profile() (Profile, error) {
	if p.Profile == "" {
		return LookupProfile(ProfileNone)
	}
	return LookupProfile(p.Profile)
}

// Allowed returns every capability the policy allows: the profile's and
// Allow.
func (p Policy) Allowed() caps.Mask {
	prof, err := p.profile()
	if err != nil {
		return p.Allow
	}
	return prof.Allowed | p.Allow
}

// Describe says in one line what the policy allows, for report headers.
func (p Policy) Describe() string {
	name := p.Profile
	if name == "" {
		name = ProfileNone
	}
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s", name)
	if p.Allow != 0 {
		fmt.Fprintf(&b, " + allow %s", describeMask(p.Allow))
	}
	fmt.Fprintf(&b, " (allowed: %s)", describeMask(p.Allowed()))
	switch {
	case p.MaxCaps == NoLimit:
		b.WriteString("; no limit on capabilities per file")
	case p.MaxCaps == 0:
		b.WriteString("; every capability needs a justification")
	default:
		fmt.Fprintf(&b, "; more than %d capabilities per file need a justification", p.MaxCaps)
	}
	return b.String()
}

func describeMask(m caps.Mask) string {
	switch m {
	case 0:
		return "none"
	case ^caps.Mask(0):
		return "ALL"
	}
	return strings.Join(m.DockerNames(), ",")
}

// Justification is a written reason for a capability, for one file or for
// every file.
type Justification struct {
	// Path limits the justification to the file at this absolute path, or
	// to the files matching it as a path.Match pattern ("/usr/bin/*").
	// Empty means every file.
	Path string
	// Cap is the capability justified.
	Cap int
	// Reason is the justification itself; it must not be empty.
	Reason string
}

// String returns the justification in the form ParseJustification takes.
func (j Justification) String() string {
	if j.Path == "" {
		return caps.DockerName(j.Cap) + "=" + j.Reason
	}
	return j.Path + ":" + caps.DockerName(j.Cap) + "=" + j.Reason
}

func (j Justification) validate() error {
	if strings.TrimSpace(j.Reason) == "" {
		return fmt.Errorf("justification for %s%s is empty: write why the program needs it", j.pathPrefix(), caps.DockerName(j.Cap))
	}
	if j.Path != "" {
		if !strings.HasPrefix(j.Path, "/") {
			return fmt.Errorf("justification path %q is not absolute: write it as it is in the image, e.g. /usr/bin/ping", j.Path)
		}
		if _, err := path.Match(j.Path, "/"); err != nil {
			return fmt.Errorf("justification path %q is not a valid pattern: %v", j.Path, err)
		}
	}
	return nil
}

func (j Justification) pathPrefix() string {
	if j.Path == "" {
		return ""
	}
	return j.Path + ":"
}

// matches reports whether j justifies capability c of the file at p.
func (j Justification) matches(p string, c int) bool {
	if j.Cap != c {
		return false
	}
	if j.Path == "" || j.Path == p {
		return true
	}
	ok, _ := path.Match(j.Path, p)
	return ok
}

// ParseJustification parses a justification written on one line (as the
// CLI's --justify takes it):
// "CAP=REASON" for every file or "/path/in/image:CAP=REASON" for one file
// (or a path.Match pattern). CAP is a capability name in any accepted form
// (NET_RAW, cap_net_raw). The reason may contain any character; a path
// containing "=" can only be given in a policy file.
func ParseJustification(s string) (_ Justification, err error) {
	defer errprefix.Add(&err, "policy")
	key, reason, ok := strings.Cut(s, "=")
	if !ok {
		return Justification{}, fmt.Errorf("policy: justification %q has no '=': write CAP=REASON or /path:CAP=REASON, e.g. '/usr/bin/ping:NET_RAW=sends ICMP echo requests'", s)
	}
	var j Justification
	name := key
	if i := strings.LastIndex(key, ":"); i > 0 && !strings.HasPrefix(key, "/") {
		return Justification{}, fmt.Errorf("policy: justification %q: path %q is not absolute: write it as it is in the image, e.g. /%s", s, key[:i], strings.TrimLeft(key[:i], "./"))
	}
	if strings.HasPrefix(key, "/") {
		i := strings.LastIndex(key, ":")
		if i < 0 {
			return Justification{}, fmt.Errorf("policy: justification %q names a path but no capability: write /path:CAP=REASON", s)
		}
		j.Path, name = key[:i], key[i+1:]
	}
	c, err := lookupCap(strings.TrimSpace(name))
	if err != nil {
		return Justification{}, fmt.Errorf("policy: justification %q: %v", s, err)
	}
	j.Cap = c
	j.Reason = strings.TrimSpace(reason)
	if err := j.validate(); err != nil {
		return Justification{}, fmt.Errorf("policy: %w", err)
	}
	return j, nil
}

// policyFile is the JSON policy file; see docs/policy.md for the schema.
type policyFile struct {
	Description    string              `json:"description,omitempty"`
	Profile        *string             `json:"profile,omitempty"`
	Allow          []string            `json:"allow,omitempty"`
	MaxCaps        *int                `json:"max_caps,omitempty"`
	Justifications []justificationJSON `json:"justifications,omitempty"`
}

type justificationJSON struct {
	Path       string `json:"path,omitempty"`
	Capability string `json:"capability"`
	Reason     string `json:"reason"`
}

// maxPolicyFile bounds what ParseFile reads; a policy is a few kilobytes.
const maxPolicyFile = 1 << 20

// ParseFile parses a JSON policy file (schema in docs/policy.md). Fields
// that are absent keep their defaults: profile none, max_caps
// DefaultMaxCaps. Keys are exact and case-sensitive, at every level: an
// unknown key (a misspelt one, "PROFILE", "Allow" or "juſtifications" with
// U+017F), a key given twice in one object, or a key written with a
// backslash escape is an error naming the key and its line and column, so
// that no key the reader of the file overlooks can weaken the policy.
func ParseFile(r io.Reader) (_ Policy, err error) {
	defer errprefix.Add(&err, "policy")
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyFile+1))
	if err != nil {
		return Policy{}, err
	}
	if len(data) > maxPolicyFile {
		return Policy{}, fmt.Errorf("policy: policy file is larger than %d bytes", maxPolicyFile)
	}
	var f policyFile
	// Keys exactly as the schema spells them, each once: encoding/json alone
	// would take "PROFILE", "juſtifications" or a second "profile".
	if err := strictjson.Check(data, &f); err != nil {
		var ke *strictjson.KeyError
		if errors.As(err, &ke) {
			return Policy{}, fmt.Errorf("policy: policy file: %v", err)
		}
		// Syntax errors are reported by the decoding below.
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return Policy{}, fmt.Errorf("policy: policy file is not valid JSON (line %d): %v", line, err)
		case errors.As(err, &te):
			return Policy{}, fmt.Errorf("policy: policy file: field %q must be %s, not a JSON %s", te.Field, jsonKind(te.Field), te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return Policy{}, fmt.Errorf("policy: policy file: %s (known fields: description, profile, allow, max_caps, justifications[].path/capability/reason)", strings.TrimPrefix(err.Error(), "json: "))
		}
		return Policy{}, fmt.Errorf("policy: policy file: %v", err)
	}
	if dec.More() {
		return Policy{}, errors.New("policy: policy file has more than one JSON value")
	}
	p := Default(ProfileNone)
	if f.Profile != nil {
		if _, err := LookupProfile(*f.Profile); err != nil {
			return Policy{}, fmt.Errorf("%w (in the policy file)", err)
		}
		p.Profile = *f.Profile
	}
	for _, a := range f.Allow {
		m, err := parseCapList(a)
		if err != nil {
			return Policy{}, fmt.Errorf("policy: policy file: allow: %v", err)
		}
		p.Allow |= m
	}
	if f.MaxCaps != nil {
		p.MaxCaps = *f.MaxCaps
	}
	for i, jj := range f.Justifications {
		if jj.Capability == "" {
			return Policy{}, fmt.Errorf("policy: policy file: justifications[%d] has no \"capability\"", i)
		}
		c, err := lookupCap(jj.Capability)
		if err != nil {
			return Policy{}, fmt.Errorf("policy: policy file: justifications[%d]: %v", i, err)
		}
		j := Justification{Path: jj.Path, Cap: c, Reason: strings.TrimSpace(jj.Reason)}
		if err := j.validate(); err != nil {
			return Policy{}, fmt.Errorf("policy: policy file: justifications[%d]: %v", i, err)
		}
		p.Justifications = append(p.Justifications, j)
	}
	if err := p.validate(); err != nil {
		return Policy{}, fmt.Errorf("policy: policy file: %v", err)
	}
	return p, nil
}

func jsonKind(field string) string {
	switch field {
	case "profile", "description":
		return "a string"
	case "allow":
		return "a list of strings"
	case "max_caps":
		return "an integer"
	case "justifications":
		return "a list of objects"
	}
	return "a string"
}

// LoadFile reads and parses the JSON policy file at name.
func LoadFile(name string) (_ Policy, err error) {
	defer errprefix.Add(&err, "policy")
	f, _, err := openfile.Regular(name, "policy "+name)
	if err != nil {
		return Policy{}, err
	}
	defer f.Close()
	p, err := ParseFile(f)
	if err != nil {
		return Policy{}, fmt.Errorf("%w (%s)", err, name)
	}
	return p, nil
}
