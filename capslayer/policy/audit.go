package policy

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Level is how serious a finding is; the values are SARIF's.
type Level string

// Finding levels. Only LevelError makes an audit fail.
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
	LevelNote    Level = "note"
)

// Rule IDs, as they appear in findings, JSON and SARIF.
const (
	RuleNotAllowed = "capability-not-allowed"
	RuleDangerous  = "dangerous-capability"
	RuleTooMany    = "too-many-capabilities"
	RuleInvalid    = "invalid-capability"
	RuleNamespaced = "namespaced-capability"
	RuleShadowed   = "shadowed-capability"
	RuleUnsafeMode = "unsafe-mode"
	RuleUnverified = "unverified-capabilities"
)

// Rule describes one audit rule.
type Rule struct {
	// ID is the stable identifier ("capability-not-allowed").
	ID string
	// Name is ID in UpperCamelCase, as SARIF viewers show it.
	Name string
	// Level is the level of every finding of the rule.
	Level Level
	// Summary says in one sentence what the rule checks.
	Summary string
	// Help says why the rule exists and how to fix a finding.
	Help string
}

var rules = []Rule{
	{RuleNotAllowed, "CapabilityNotAllowed", LevelError,
		"A file in the image has a capability that the policy's allowlist does not allow.",
		"Every capability a file carries is granted to any user who runs it, so it must be on the allowlist (the profile plus the capabilities the policy allows). Fix: drop the capability from the file, allow it in the policy, or pick a broader profile."},
	{RuleDangerous, "DangerousCapability", LevelError,
		"A file in the image has a dangerous capability without a written justification.",
		"Dangerous capabilities (capslayer's built-in list, see docs/policy.md) let a program become root, read or change any file, or reach outside the container. Fix: drop the capability, or write in the policy's justifications why the program needs it."},
	{RuleTooMany, "TooManyCapabilities", LevelError,
		"A file in the image has more capabilities than the policy allows without justification.",
		"A program that needs more than a few capabilities usually needs a redesign, not more privilege. Fix: drop the capabilities the program does not use, justify each remaining one in the policy, or raise the policy's limit."},
	{RuleInvalid, "InvalidCapability", LevelError,
		"A file's security.capability value cannot be decoded.",
		"Linux rejects a malformed security.capability value, so the layer cannot be extracted with it or the file cannot be executed. Fix: rewrite the file's capabilities or remove the attribute."},
	{RuleNamespaced, "NamespacedCapability", LevelWarning,
		"A file's capabilities are a revision 3 (namespaced) value with a non-zero root uid.",
		"Linux applies a revision 3 value only inside a user namespace whose root is that host uid and ignores it silently everywhere else (moby#41723). Fix: write a revision 2 value (no root ID)."},
	{RuleUnsafeMode, "UnsafeMode", LevelError,
		"A file with capabilities is setuid, setgid or world-writable.",
		"Set-user-ID and set-group-ID add a second privilege to the capabilities, and anyone who can write a world-writable file can replace the program while its capabilities stay. Fix: give the file a mode without these bits, e.g. 0755."},
	{RuleUnverified, "UnverifiedCapabilities", LevelError,
		"The image's capabilities were taken from its own label; its layers were not read.",
		"The io.capslayer.capabilities label is what the image says about itself: a forged or stale label can list fewer capabilities than the layers give, so a verdict cannot rest on it. Fix: read the layers (the default), which also verifies the label against them."},
	{RuleShadowed, "ShadowedCapability", LevelNote,
		"A file with capabilities was replaced or deleted by a later layer.",
		"The file does not reach the container's filesystem, so its capabilities are reported for information and not checked. They still ship in the image's base layer."},
}

// Rules returns the audit rules in a fixed order.
func Rules() []Rule {
	return append([]Rule(nil), rules...)
}

func ruleByID(id string) Rule {
	for _, r := range rules {
		if r.ID == id {
			return r
		}
	}
	panic("policy: unknown rule " + id)
}

// Finding is one broken rule.
type Finding struct {
	// Rule is the rule ID.
	Rule string `json:"rule"`
	// Level is the rule's level.
	Level Level `json:"level"`
	// Location is the file the finding is about.
	Location
	// Caps holds the capabilities concerned (Docker names in the JSON).
	Caps caps.Mask `json:"capabilities,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Remedy is what fixes it, as data; nil for a note.
	Remedy *Remedy `json:"remedy,omitempty"`
	// Fix says how to fix it, in the caller's words (see Result.Word):
	// Audit leaves it empty.
	Fix string `json:"fix,omitempty"`
}

// Remedy is what fixes a finding, as data for the caller to word in its
// own language (a flag, a Bazel attribute, a policy file's field): the
// library names none. The rule says what to do with the finding's Caps:
//
//   - capability-not-allowed: drop them from the file, or allow them (or
//     use Profile, when set);
//   - dangerous-capability: drop it, or justify it for Pattern;
//   - too-many-capabilities: drop those not needed, justify each for
//     Pattern, or raise the policy's MaxCaps;
//   - invalid-capability: rewrite the file's capabilities or remove them;
//   - unsafe-mode: give the file a mode without setuid, setgid and
//     world-writable bits;
//   - namespaced-capability: write a revision 2 value (no root ID);
//   - unverified-capabilities: read the image's layers.
type Remedy struct {
	// Profile is the strictest built-in profile that allows the
	// capabilities and everything the policy's profile allows; "" when
	// none does.
	Profile string `json:"profile,omitempty"`
	// Pattern is the Justification.Path that matches the file alone
	// (LiteralPattern of its path).
	Pattern string `json:"pattern,omitempty"`
}

// AppliedJustification records a justification Audit used.
type AppliedJustification struct {
	Cap    string `json:"capability"`
	Reason string `json:"reason"`
}

// Status of a FileResult.
const (
	StatusOK       = "ok"
	StatusFail     = "fail"
	StatusWarn     = "warn"
	StatusShadowed = "shadowed"
)

// Location is where a file with capabilities is: the file of a Finding
// and of a FileResult. Its fields are inline in their JSON.
type Location struct {
	// Image is the image's name; empty for a lone layer.
	Image string `json:"image,omitempty"`
	// Platform is the image's os/arch; empty for a lone layer.
	Platform string `json:"platform,omitempty"`
	// Layer is the index of the layer holding the file, 0 = bottom; -1
	// for a finding about the whole image.
	Layer int `json:"layer"`
	// LayerDigest is the layer's digest when known.
	LayerDigest string `json:"layer_digest,omitempty"`
	// Path is the file's absolute path in the image; empty for a finding
	// about the whole image.
	Path string `json:"path"`
	// Source is where the file and its capabilities were read:
	// inspect.FromLayer (the layer blob, checked against LayerDigest) or
	// inspect.FromLabel (the image's own label, not verified).
	Source string `json:"source"`
}

// FileResult is one file with capabilities and how it fared.
type FileResult struct {
	Location
	// Caps is the canonical text, as getcap prints it; empty when the
	// value is invalid.
	Caps string `json:"caps"`
	// Hex is the raw security.capability value.
	Hex string `json:"hex"`
	// Capabilities holds every capability the file has (Docker names in
	// the JSON).
	Capabilities caps.Mask `json:"capabilities"`
	// Invalid says why the value could not be decoded.
	Invalid string `json:"invalid,omitempty"`
	// ShadowedBy is the layer that replaced or deleted the file, or -1.
	ShadowedBy int `json:"shadowed_by"`
	// Status is StatusOK, StatusFail, StatusWarn or StatusShadowed.
	Status string `json:"status"`
	// Justified lists the justifications the file needed and had.
	Justified []AppliedJustification `json:"justified,omitempty"`
}

// Result is the outcome of Audit.
type Result struct {
	// Origin is what was audited.
	inspect.Origin
	// Policy describes the policy applied.
	Policy PolicySummary `json:"policy"`
	// Files lists every file with capabilities, in image, layer and path
	// order.
	Files []FileResult `json:"files"`
	// Findings lists every broken rule, in the same order.
	Findings []Finding `json:"findings"`
	// Unused lists justifications that matched no capability of any
	// visible file; they may be stale.
	Unused []string `json:"unused_justifications,omitempty"`
	// Verified is true when the files of every image were read from its
	// layers; false when any image's come from its label alone, which is
	// then a finding of RuleUnverified.
	Verified bool `json:"verified"`
	// Passed is true when no finding has LevelError: never for an audit
	// that is not Verified.
	Passed bool `json:"passed"`
}

// PolicySummary is the policy as reports show it.
type PolicySummary struct {
	// Description is Policy.Describe().
	Description string    `json:"description"`
	Profile     string    `json:"profile"`
	Allow       caps.Mask `json:"allow,omitempty"`
	Allowed     caps.Mask `json:"allowed"`
	MaxCaps     int       `json:"max_caps"`
	Dangerous   caps.Mask `json:"dangerous"`
}

// Counts returns the number of findings per level.
func (r *Result) Counts() (errors, warnings, notes int) {
	for _, f := range r.Findings {
		switch f.Level {
		case LevelError:
			errors++
		case LevelWarning:
			warnings++
		default:
			notes++
		}
	}
	return
}

// UnverifiedImages is the number of RuleUnverified findings of r: images
// whose capabilities were taken from their label.
func (r *Result) UnverifiedImages() int {
	n := 0
	for _, f := range r.Findings {
		if f.Rule == RuleUnverified {
			n++
		}
	}
	return n
}

// Word sets the Fix of every finding that has a Remedy to fix(finding):
// what fixes it in the caller's words.
func (r *Result) Word(fix func(Finding) string) {
	for i, f := range r.Findings {
		if f.Remedy != nil {
			r.Findings[i].Fix = fix(f)
		}
	}
}

// LiteralPattern returns the Justification.Path pattern that matches p
// alone: p with the metacharacters of path.Match (* ? [ \) escaped. A byte
// of p that is not UTF-8 becomes ?, which matches it: neither a flag read
// from a shell line nor a JSON string can hold that byte.
func LiteralPattern(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteByte('?')
		case strings.ContainsRune(`*?[\`, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(p[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Audit checks every file with capabilities in rep against p, and gives
// each finding its Remedy. Files that a later layer replaced or
// deleted are listed and get a note, but are not checked against the other
// rules: they never reach the runtime filesystem. p must be valid (see
// Policy.Validate).
func Audit(rep *inspect.Report, p Policy) *Result {
	allowed := p.Allowed()
	res := &Result{
		Origin: rep.Origin,
		Policy: PolicySummary{
			Description: p.Describe(),
			Profile:     p.Profile,
			Allowed:     allowed,
			MaxCaps:     p.MaxCaps,
			Dangerous:   DangerousMask(),
		},
		Files:    []FileResult{},
		Findings: []Finding{},
	}
	if res.Policy.Profile == "" {
		res.Policy.Profile = ProfileNone
	}
	if p.Allow != 0 {
		res.Policy.Allow = p.Allow
	}
	used := make([]bool, len(p.Justifications))
	res.Verified = true
	for _, img := range rep.Images {
		if img.LabelOnly {
			res.Verified = false
			res.Findings = append(res.Findings, unverified(img))
		}
		for _, f := range img.SortedFiles() {
			fr, findings := auditFile(img, f, p, allowed, used)
			res.Files = append(res.Files, fr)
			res.Findings = append(res.Findings, findings...)
		}
	}
	for i, j := range p.Justifications {
		if !used[i] {
			res.Unused = append(res.Unused, j.String())
		}
	}
	errs, _, _ := res.Counts()
	res.Passed = errs == 0
	return res
}

// unverified is the finding about an image whose files come from its
// label alone.
func unverified(img inspect.Image) Finding {
	where := "the image"
	if img.Name != "" {
		where = "image " + img.Name
	}
	if img.Platform != "" {
		where += " (" + img.Platform + ")"
	}
	return Finding{
		Rule:     RuleUnverified,
		Level:    ruleByID(RuleUnverified).Level,
		Location: Location{Image: img.Name, Platform: img.Platform, Layer: -1, Source: img.FilesFrom()},
		Message:  fmt.Sprintf("the capabilities of %s were taken from its %s label, not read from its layers: nothing was verified, so there is no verdict", where, imagemeta.LabelCapabilities),
		Remedy:   &Remedy{},
	}
}

func layerDigest(img inspect.Image, index int) string {
	for _, l := range img.Layers {
		if l.Index == index {
			return l.Digest
		}
	}
	return ""
}

// justify returns the reason justifying capability c of the file at p, and
// marks the justification used.
func justify(p Policy, used []bool, path string, c int) (string, bool) {
	// A justification naming the file wins over one for every file.
	for pass := 0; pass < 2; pass++ {
		for i, j := range p.Justifications {
			if (pass == 0) != (j.Path != "") {
				continue
			}
			if j.matches(path, c) {
				used[i] = true
				return j.Reason, true
			}
		}
	}
	return "", false
}

func auditFile(img inspect.Image, f tarfs.File, p Policy, allowed caps.Mask, used []bool) (FileResult, []Finding) {
	fc := f.Xattr.Caps
	fr := FileResult{
		Location:   Location{Image: img.Name, Platform: img.Platform, Layer: f.Layer, LayerDigest: layerDigest(img, f.Layer), Path: f.Path, Source: img.FilesFrom()},
		Hex:        hex.EncodeToString(f.Raw),
		Invalid:    f.Invalid,
		ShadowedBy: f.ShadowedBy,
		Status:     StatusOK,
	}
	if f.Invalid == "" {
		fr.Caps = fc.String()
		fr.Capabilities = fc.All()
	}
	base := Finding{Location: fr.Location}
	mk := func(rule string, capsConcerned caps.Mask, msg string, remedy *Remedy) Finding {
		fd := base
		fd.Rule = rule
		fd.Level = ruleByID(rule).Level
		fd.Caps = capsConcerned
		fd.Message = msg
		fd.Remedy = remedy
		return fd
	}
	// Messages are text for people: the names in them, which come from
	// the image, are escaped (printable.String).
	where := fileWhere(printable.String(f.Path), printable.String(img.Name), f.Layer)

	if f.ShadowedBy >= 0 {
		fr.Status = StatusShadowed
		what := "capabilities " + fr.Caps
		if f.Invalid != "" {
			what = "an invalid security.capability value"
		}
		msg := fmt.Sprintf("%s had %s, but layer %d replaced or deleted it: it is not in the container's filesystem, so it is not checked", where, what, f.ShadowedBy)
		if f.Invalid == "" {
			if bad := fc.All() &^ allowed; bad != 0 {
				msg += fmt.Sprintf(" (the policy would not allow %s)", strings.Join(bad.DockerNames(), ", "))
			}
		}
		return fr, []Finding{mk(RuleShadowed, fr.Capabilities, msg, nil)}
	}

	if f.Invalid != "" {
		fr.Status = StatusFail
		return fr, []Finding{mk(RuleInvalid, 0,
			fmt.Sprintf("%s has a security.capability value that cannot be decoded (%s; hex %s)", where, f.Invalid, fr.Hex),
			&Remedy{})}
	}

	var findings []Finding
	all := fc.All()

	// Allowlist: one finding per file, naming every capability not allowed.
	if bad := all &^ allowed; bad != 0 {
		names := bad.DockerNames()
		findings = append(findings, mk(RuleNotAllowed, bad,
			fmt.Sprintf("%s has %s (%s), which %s does not allow", where, capsPhrase(names), fr.Caps, policyName(p)),
			&Remedy{Profile: broaderProfile(p, bad)}))
	}

	// Dangerous capabilities and the per-file limit both ask for
	// justifications; record each applied justification once.
	justified := map[int]string{}
	need := func(c int) bool {
		if _, ok := justified[c]; ok {
			return false
		}
		if r, ok := justify(p, used, f.Path, c); ok {
			justified[c] = r
			return false
		}
		return true
	}
	for _, c := range (all & DangerousMask()).List() {
		if !need(c) {
			continue
		}
		d, _ := DangerOf(c)
		name := caps.DockerName(c)
		findings = append(findings, mk(RuleDangerous, caps.MaskOf(c),
			fmt.Sprintf("%s has CAP_%s, a dangerous capability (%s), without a written justification", where, name, d.Reason),
			&Remedy{Pattern: LiteralPattern(f.Path)}))
	}
	if n := bits.OnesCount64(uint64(all)); p.MaxCaps != NoLimit && n > p.MaxCaps {
		var missing caps.Mask
		for _, c := range all.List() {
			if need(c) {
				missing |= caps.MaskOf(c)
			}
		}
		if missing != 0 {
			findings = append(findings, mk(RuleTooMany, missing,
				fmt.Sprintf("%s has %d capabilities (%s), more than the %d allowed without justification; not justified: %s", where, n, strings.Join(fr.Capabilities.DockerNames(), ", "), p.MaxCaps, strings.Join(missing.DockerNames(), ", ")),
				&Remedy{Pattern: LiteralPattern(f.Path)}))
		}
	}
	for _, c := range all.List() {
		if r, ok := justified[c]; ok {
			fr.Justified = append(fr.Justified, AppliedJustification{Cap: caps.DockerName(c), Reason: r})
		}
	}

	if bits := caps.UnsafeMode(f.Mode); bits != "" && all != 0 {
		findings = append(findings, mk(RuleUnsafeMode, fr.Capabilities,
			fmt.Sprintf("%s has capabilities and mode %04o: it is %s", where, f.Mode, bits),
			&Remedy{}))
	}

	if f.Xattr.Revision == 3 && f.Xattr.RootID != 0 {
		findings = append(findings, mk(RuleNamespaced, 0,
			fmt.Sprintf("%s has a revision 3 security.capability value with root uid %d: Linux applies it only in a user namespace whose root is host uid %d and ignores it elsewhere", where, f.Xattr.RootID, f.Xattr.RootID),
			&Remedy{}))
	}

	for _, fd := range findings {
		switch {
		case fd.Level == LevelError:
			fr.Status = StatusFail
		case fd.Level == LevelWarning && fr.Status == StatusOK:
			fr.Status = StatusWarn
		}
	}
	return fr, findings
}

func fileWhere(path, image string, layer int) string {
	if image == "" {
		return fmt.Sprintf("%s (layer %d)", path, layer)
	}
	return fmt.Sprintf("%s (image %s, layer %d)", path, image, layer)
}

func policyName(p Policy) string {
	name := p.Profile
	if name == "" {
		name = ProfileNone
	}
	if p.Allow != 0 {
		return fmt.Sprintf("profile %s + allow %s", name, describeMask(p.Allow))
	}
	return "profile " + name
}

// broaderProfile returns the strictest built-in profile that allows every
// capability in m and everything p's profile allows, or "".
func broaderProfile(p Policy, m caps.Mask) string {
	cur, err := p.profile()
	if err != nil {
		return ""
	}
	for _, prof := range profiles {
		if prof.Name != cur.Name && prof.Allowed&m == m && prof.Allowed&cur.Allowed == cur.Allowed {
			return prof.Name
		}
	}
	return ""
}

// capsPhrase names capabilities in prose: "CAP_A", "CAP_A and CAP_B",
// "CAP_A, CAP_B and CAP_C".
func capsPhrase(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "CAP_" + n
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
