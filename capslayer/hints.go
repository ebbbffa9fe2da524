package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/admission"
	"github.com/capslayer/rules_capslayer/capslayer/image"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
	"github.com/capslayer/rules_capslayer/capslayer/layer"
	"github.com/capslayer/rules_capslayer/capslayer/policy"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/requirements"
)

// This file is the one place where what fixes an error is said. The
// libraries return error kinds (matched with errors.Is or errors.As) and
// name no flag; every command passes their errors through explain, and
// audit's findings through auditWords, in the style --hint-style asks for:
// this tool's flags, or the attributes of the Bazel rule that runs the
// command.
//
// Bazel wording names an attribute as 'attr' or attr = VALUE, and an
// attribute of another rule than the row's as rule's 'attr' (or rule's
// attr = VALUE): TestHintAttributes checks each name against the rules'
// attrs in rules/private.

// A hint is one row of the table: the errors it answers, and what fixes
// them in the CLI's words and in the attributes of rule.
type hint struct {
	is  func(error) bool
	cli string
	// rule is the Bazel rule whose attributes bazel names; "" (and bazel
	// "") when no rule meets the error: then the CLI's words stand.
	rule, bazel string
}

// hints is searched in order; the first row that answers an error wins. A
// row whose words are "" answers the error with nothing to add.
var hints = []hint{
	// image.Build; caps_image passes --hint-style bazel.
	{is(image.ErrEntrypointNotFound, image.ErrEntrypointNotExecutable), "check --entrypoint (or --cmd) and the --layer paths, or pass --no-entrypoint-check",
		"caps_image", "check 'entrypoint' (or 'cmd') and 'layers', or set check_entrypoint = False"},
	{is(image.ErrEmptyEntrypoint), "give --entrypoint, or pass --no-entrypoint-check",
		"caps_image", "set 'entrypoint', or set check_entrypoint = False"},
	{is(image.ErrBaseAmbiguous), "choose one with --platform or --base-ref",
		"caps_image", "choose one with 'architecture' (and 'os', 'variant') or 'base_ref'"},
	{is(image.ErrBasePlatformNotFound), "pick one with --platform, or use a --base built for the platform you want",
		"caps_image", "pick one with 'architecture' (and 'os', 'variant'), or use a 'base' built for the platform you want"},
	{is(image.ErrBaseRefNotFound), "give --base-ref one of these names or a manifest digest",
		"caps_image", "set 'base_ref' to one of these names or a manifest digest"},
	{is(image.ErrReservedLabel), "remove that --label",
		"caps_image", "remove that key from 'labels'"},
	{is(image.ErrNoBaseImage), "give --base an OCI image layout or docker save tarball that holds an image",
		"caps_image", "give 'base' an OCI image layout or docker save tarball that holds an image"},

	// Package registry. A deadline or a stall is the cause even when
	// go-containerregistry then tried plain HTTP (and was refused); a
	// stall has no flag.
	{is(registry.ErrTimeout), "a slow registry needs a longer --timeout", "", ""},
	{is(registry.ErrStalled), "", "", ""},
	{is(registry.ErrInsecure), "--insecure is only for a registry on this machine; for a remote registry whose CA the system does not trust, give the CA with --ca-file FILE", "", ""},
	{is(registry.ErrUnknownAuthority), "give its CA with --ca-file FILE (or SSL_CERT_FILE)", "", ""},
	{is(registry.ErrPlainHTTP), "for a plain-HTTP registry on this machine, add --insecure", "", ""},
	{is(registry.ErrCAFile), "check --ca-file", "", ""},

	// Package layer; caps_layer passes --hint-style bazel. caps_layer has
	// no attribute for --allow-script: a script's capabilities do nothing.
	{is(layer.ErrScript), "pass --allow-script to store them anyway", "", ""},
	{is(layer.ErrUnsafeMode), "or pass --allow-unsafe-mode to store it anyway",
		"caps_layer", "or set allow_unsafe_mode = True to store it anyway"},
	{is(layer.ErrHasCapability), "pass --replace-caps to replace them",
		"caps_layer", "set replace_caps = True to replace them"},
	{is(layer.ErrModTime), "check --mtime or SOURCE_DATE_EPOCH", "caps_layer", "check 'mtime'"},

	{func(err error) bool { var pe *requirements.PathError; return errors.As(err, &pe) }, "check --path", "", ""},

	// admission.Generate names the Options field a bad value came from.
	{optionIs("Name"), "check --name", "", ""},
	{optionIs("OthersMayAdd"), "check --others-may-add", "", ""},
	{optionIs("Namespaces"), "check --namespace", "", ""},
}

// warningHints say what a flag does about a kind of requirements'
// warning.
var warningHints = map[requirements.WarningKind]string{
	requirements.WarnUserUnknown: "pass --user UID",
}

// is answers an error that is one of kinds.
func is(kinds ...error) func(error) bool {
	return func(err error) bool {
		for _, k := range kinds {
			if errors.Is(err, k) {
				return true
			}
		}
		return false
	}
}

// optionIs answers an admission.OptionError about the field option.
func optionIs(option string) func(error) bool {
	return func(err error) bool {
		var oe *admission.OptionError
		return errors.As(err, &oe) && oe.Option == option
	}
}

// explain adds to err what fixes it, in the words of style (nil: the
// CLI's). An error no row answers is returned as it is.
func explain(err error, style *hintStyleFlag) error {
	if err == nil {
		return nil
	}
	for _, h := range hints {
		if !h.is(err) {
			continue
		}
		words := h.cli
		if style.bazel() && h.bazel != "" {
			words = h.bazel
		}
		if words == "" {
			return err
		}
		return fmt.Errorf("%w; %s", err, words)
	}
	return err
}

// fixWords say, in one language, how to change the settings that fix an
// audit finding: the CLI's flags, a Bazel rule's attributes, or the policy
// file's fields.
type fixWords struct {
	// allow adds list (Docker names, comma separated) to the allowlist.
	allow func(list string) string
	// profile chooses the built-in profile name.
	profile func(name string) string
	// justify writes reason as the justification of capability name (a
	// Docker name, or "CAP") for the files pattern matches. The result
	// is text safe to print: the pattern, which comes from an image, is
	// quoted for the language (internal/quote).
	justify func(pattern, name, reason string) string
	// maxCaps is the per-file limit of capabilities without justification.
	maxCaps string
	// caps, mode and noRootID say how the layer's writer sets a file's
	// capabilities, gives it mode 0755, and writes revision 2 values.
	caps, mode, noRootID string
	// readLayers says how to read the image's layers instead of taking its
	// capabilities from its label.
	readLayers string
}

// wordFixes sets the Fix of every finding of res in the words of style.
func wordFixes(res *policy.Result, style *hintStyleFlag) {
	w := auditCLIWords
	if style.bazel() {
		w = auditBazelWords
	}
	res.Word(func(f policy.Finding) string { return fixText(f, w) })
}

// fixText says what fixes f (its Remedy, see policy.Remedy) in words w.
// The file's path, which comes from the image, is escaped
// (printable.String) in prose and quoted by w where it is a value.
func fixText(f policy.Finding, w fixWords) string {
	pp := printable.String(f.Path)
	r := f.Remedy
	switch f.Rule {
	case policy.RuleNotAllowed:
		names := f.Caps.DockerNames()
		list := strings.Join(names, ",")
		it := "it"
		if len(names) > 1 {
			it = "them"
		}
		fix := fmt.Sprintf("drop %s from %s, or allow %s with %s", list, pp, it, w.allow(list))
		if r.Profile != "" {
			fix += fmt.Sprintf(" (or use %s)", w.profile(r.Profile))
		}
		return fix
	case policy.RuleDangerous:
		name := strings.Join(f.Caps.DockerNames(), ",")
		return fmt.Sprintf("drop %s from %s, or justify it: %s", name, pp, w.justify(r.Pattern, name, "why the program needs it"))
	case policy.RuleTooMany:
		return fmt.Sprintf("drop the capabilities %s does not need, or justify each of %s with %s, or raise %s", pp, strings.Join(f.Caps.DockerNames(), ", "), w.justify(r.Pattern, "CAP", "REASON"), w.maxCaps)
	case policy.RuleInvalid:
		return fmt.Sprintf("rewrite the capabilities of %s (%s) or remove the attribute", pp, w.caps)
	case policy.RuleUnsafeMode:
		return fmt.Sprintf("give %s a mode without the setuid, setgid and world-writable bits, e.g. 0755 (%s)", pp, w.mode)
	case policy.RuleNamespaced:
		return fmt.Sprintf("write a revision 2 value for %s (%s)", pp, w.noRootID)
	case policy.RuleUnverified:
		return w.readLayers
	}
	return ""
}

// auditCLIWords say how to fix an audit finding with capslayer's flags: each
// hint is an argv rendered by quote.Command, so a path from the image stays
// one argument when the hint is pasted.
var auditCLIWords = fixWords{
	allow:   func(list string) string { return cliHint(nil, "--allow", list) },
	profile: func(name string) string { return cliHint(nil, "--profile", name) },
	justify: func(pattern, name, reason string) string {
		// --justify cuts PATTERN:CAP=REASON at its first "=": a pattern
		// with one is written in a policy file instead, as is one that
		// a shell line cannot show.
		fallback := func() string {
			return "a policy file (--policy FILE) with " + policyFileJustify(pattern, name, reason) +
				" (--justify cannot hold this path)"
		}
		if strings.Contains(pattern, "=") {
			return fallback()
		}
		return cliHint(fallback, "--justify", pattern+":"+name+"="+reason)
	},
	maxCaps:    "--max-caps",
	caps:       "capslayer layer --caps TEXT",
	mode:       "capslayer layer --mode 0755",
	noRootID:   "capslayer layer without --rootid",
	readLayers: "drop --label-only: the layers are read and the label verified by default",
}

// policyFileJustify is a justification as an entry of the policy file's
// "justifications" (docs/policy.md).
func policyFileJustify(pattern, name, reason string) string {
	return fmt.Sprintf(`{"path": %s, "capability": %s, "reason": %s} in the policy's "justifications"`,
		quote.JSONString(pattern), quote.JSONString(name), quote.JSONString(reason))
}

// auditBazelWords say it with the attributes of caps_policy_test (which
// runs audit with --hint-style bazel) and caps_layer.
var auditBazelWords = fixWords{
	allow: func(list string) string {
		return fmt.Sprintf("allow = [%s]", quotedList(strings.Split(list, ",")))
	},
	profile: func(name string) string { return fmt.Sprintf("profile = %q", name) },
	justify: func(path, name, reason string) string {
		return fmt.Sprintf("justifications = {%q: %q}", path+":"+name, reason)
	},
	maxCaps:  "'max_caps'",
	caps:     "caps_layer's 'caps' or caps_layer's 'file_caps'",
	mode:     `caps_layer's mode = "0755"`,
	noRootID: "caps_layer's 'rootid' left unset",
	// caps_policy_test always reads the layers.
	readLayers: "read the layers, as caps_policy_test does",
}

// auditWordsRule is the rule auditBazelWords speak of by default.
const auditWordsRule = "caps_policy_test"

// cliHint is argv as a shell line (quote.Command); when an argument cannot
// be shown in one, it is fallback's text, or a note saying so.
func cliHint(fallback func() string, argv ...string) string {
	line, err := quote.Command(argv...)
	if err == nil {
		return line
	}
	if fallback != nil {
		return fallback()
	}
	return fmt.Sprintf("%s (with a value a shell line cannot show: %s)", argv[0], printable.Text(err.Error()))
}

// quotedList is `"A", "B"`, as Starlark writes a list's items.
func quotedList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
