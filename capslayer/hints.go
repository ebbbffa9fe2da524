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

	// Package layer.
	{is(layer.ErrScript), "pass --allow-script to store them anyway", "", ""},
	{is(layer.ErrUnsafeMode), "or pass --allow-unsafe-mode to store it anyway", "", ""},
	{is(layer.ErrHasCapability), "pass --replace-caps to replace them", "", ""},
	{is(layer.ErrModTime), "check --mtime or SOURCE_DATE_EPOCH", "", ""},

	// admission.Generate names the Options field a bad value came from.
	{optionIs("Name"), "check --name", "", ""},
	{optionIs("OthersMayAdd"), "check --others-may-add", "", ""},
	{optionIs("Namespaces"), "check --namespace", "", ""},
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

// auditWords are the words in which audit says how to fix a finding.
func auditWords(style *hintStyleFlag) policy.Words {
	if style.bazel() {
		return auditBazelWords
	}
	return auditCLIWords
}

// auditCLIWords say how to fix an audit finding with capslayer's flags: each
// hint is an argv rendered by quote.Command, so a path from the image stays
// one argument when the hint is pasted.
var auditCLIWords = policy.Words{
	Allow:   func(list string) string { return cliHint(nil, "--allow", list) },
	Profile: func(name string) string { return cliHint(nil, "--profile", name) },
	Justify: func(pattern, name, reason string) string {
		// --justify cuts PATTERN:CAP=REASON at its first "=": a pattern
		// with one is written in a policy file instead, as is one that
		// a shell line cannot show.
		fallback := func() string {
			return "a policy file (--policy FILE) with " + policy.PolicyFileWords.Justify(pattern, name, reason) +
				" (--justify cannot hold this path)"
		}
		if strings.Contains(pattern, "=") {
			return fallback()
		}
		return cliHint(fallback, "--justify", pattern+":"+name+"="+reason)
	},
	MaxCaps:  func() string { return "--max-caps" },
	Caps:     func() string { return "capslayer layer --caps TEXT" },
	Mode:     func() string { return "capslayer layer --mode 0755" },
	NoRootID: func() string { return "capslayer layer without --rootid" },
	ReadLayers: func() string {
		return "drop --label-only: the layers are read and the label verified by default"
	},
}

// auditBazelWords say it with the attributes of caps_policy_test (which
// runs audit with --hint-style bazel) and caps_layer.
var auditBazelWords = policy.Words{
	Allow: func(list string) string {
		return fmt.Sprintf("allow = [%s]", quotedList(strings.Split(list, ",")))
	},
	Profile: func(name string) string { return fmt.Sprintf("profile = %q", name) },
	Justify: func(path, name, reason string) string {
		return fmt.Sprintf("justifications = {%q: %q}", path+":"+name, reason)
	},
	MaxCaps:  func() string { return "'max_caps'" },
	Caps:     func() string { return "caps_layer's 'caps' or caps_layer's 'file_caps'" },
	Mode:     func() string { return `caps_layer's mode = "0755"` },
	NoRootID: func() string { return "caps_layer's 'rootid' left unset" },
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
