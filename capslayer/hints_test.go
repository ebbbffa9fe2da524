package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/admission"
	"github.com/capslayer/rules_capslayer/capslayer/image"
	"github.com/capslayer/rules_capslayer/capslayer/layer"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/requirements"
)

// ruleAttrs reads the attributes of every rule defined in
// rules/private/*.bzl (NAME = rule(... attrs = {"attr": attr.KIND(...)})),
// keyed by the name users call it by: caps_image_rule is caps_image. The
// .bzl files are the go_test's data in Bazel, beside this package in go
// test.
func ruleAttrs(t *testing.T) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "rules", "private", "*.bzl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules/private/*.bzl beside the package (err %v)", err)
	}
	start := regexp.MustCompile(`^(\w+) = rule\($`)
	attr := regexp.MustCompile(`^\s+"(\w+)": attr\.\w+\(`)
	rules := map[string]map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cur map[string]bool
		for _, line := range strings.Split(string(b), "\n") {
			if m := start.FindStringSubmatch(line); m != nil {
				cur = map[string]bool{}
				rules[strings.TrimSuffix(m[1], "_rule")] = cur
				continue
			}
			if line == ")" {
				cur = nil
			}
			if m := attr.FindStringSubmatch(line); m != nil && cur != nil {
				cur[m[1]] = true
			}
		}
	}
	for _, r := range []string{"caps_image", "caps_layer", "caps_policy_test"} {
		if len(rules[r]) == 0 {
			t.Fatalf("found no attributes of %s in %v", r, files)
		}
	}
	return rules
}

// namedAttrs returns the attributes text names, as the convention of
// hints.go writes them ('attr', attr = VALUE, rule's 'attr', rule's attr =
// VALUE), each with its rule (defaultRule when none is named).
func namedAttrs(text, defaultRule string) [][2]string {
	re := regexp.MustCompile(`(?:\b(\w+)'s )?(?:'(\w+)'|\b(\w+) = )`)
	var out [][2]string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		rule := m[1]
		if rule == "" {
			rule = defaultRule
		}
		out = append(out, [2]string{rule, m[2] + m[3]})
	}
	return out
}

// TestHintAttributes: every attribute the Bazel wording names is an
// attribute of the rule it names, and every Bazel wording names one.
func TestHintAttributes(t *testing.T) {
	rules := ruleAttrs(t)
	check := func(what, text, rule string) {
		t.Helper()
		named := namedAttrs(text, rule)
		if len(named) == 0 {
			t.Errorf("%s: %q names no attribute", what, text)
		}
		for _, n := range named {
			attrs, ok := rules[n[0]]
			if !ok {
				t.Errorf("%s: %q names rule %s, which rules/private does not define", what, text, n[0])
			} else if !attrs[n[1]] {
				t.Errorf("%s: %q names %s's attribute %q, which it does not have", what, text, n[0], n[1])
			}
		}
		if strings.Contains(text, "--") {
			t.Errorf("%s: %q names a flag in Bazel words", what, text)
		}
	}
	for i, h := range hints {
		if (h.rule == "") != (h.bazel == "") {
			t.Errorf("hint %d: rule %q with bazel words %q", i, h.rule, h.bazel)
		}
		if h.bazel != "" {
			check("hint "+h.cli, h.bazel, h.rule)
		}
	}
	w := auditBazelWords
	for name, text := range map[string]string{
		"allow":          w.allow("NET_RAW,CHOWN"),
		"profile":        w.profile("docker-default"),
		"justify":        w.justify("/bin/ping", "NET_RAW", "why"),
		"justify (CAP)":  w.justify("/bin/ping", "CAP", "REASON"),
		"maxCaps":        w.maxCaps,
		"caps":           w.caps,
		"mode":           w.mode,
		"noRootID":       w.noRootID,
		"the rule named": "caps_policy_test's 'image'",
	} {
		check("audit words "+name, text, auditWordsRule)
	}
	// The check fails on a name that is not an attribute.
	if attrs := rules["caps_image"]; attrs["check_entrypoints"] || !attrs["check_entrypoint"] {
		t.Errorf("caps_image's attributes read as %v", attrs)
	}
}

// TestExplain: every error kind the CLI meets gets its row's words in the
// style asked for, after the error's own message, which it still wraps.
func TestExplain(t *testing.T) {
	bazel := hintStyleFlag("bazel")
	for _, kind := range []error{
		image.ErrNoBaseImage, image.ErrBaseRefNotFound, image.ErrBasePlatformNotFound, image.ErrBaseAmbiguous,
		image.ErrReservedLabel, image.ErrEmptyEntrypoint, image.ErrEntrypointNotFound, image.ErrEntrypointNotExecutable,
	} {
		err := &image.EntrypointError{Argv0: "/x", Reason: "test", Kind: kind.(image.Error)}
		cli, bz := explain(err, nil), explain(err, &bazel)
		if !errors.Is(cli, kind) || !strings.HasPrefix(cli.Error(), err.Error()+"; ") || !strings.Contains(cli.Error(), "--") {
			t.Errorf("%v: CLI words %q", kind, cli)
		}
		if bz.Error() == cli.Error() || strings.Contains(bz.Error(), "--") {
			t.Errorf("%v: Bazel words %q", kind, bz)
		}
	}
	// caps_layer runs layer with --hint-style bazel and has attributes for
	// these.
	for _, kind := range []error{layer.ErrUnsafeMode, layer.ErrHasCapability, layer.ErrModTime} {
		cli, bz := explain(kind, nil), explain(kind, &bazel)
		if !errors.Is(bz, kind) || !strings.HasPrefix(bz.Error(), kind.Error()+"; ") || bz.Error() == cli.Error() || strings.Contains(bz.Error(), "--") {
			t.Errorf("%v: Bazel words %q", kind, bz)
		}
	}
	for _, kind := range []error{registry.ErrTimeout, registry.ErrInsecure, registry.ErrUnknownAuthority, registry.ErrPlainHTTP, registry.ErrCAFile,
		layer.ErrScript} {
		if got := explain(kind, &bazel); !strings.HasPrefix(got.Error(), kind.Error()+"; ") || !strings.Contains(got.Error(), "--") {
			t.Errorf("%v: %q (no rule runs this: the CLI's words stand)", kind, got)
		}
	}
	for _, err := range []error{&requirements.PathError{Path: "/x"}, &admission.OptionError{Option: "Namespaces", Err: admission.ErrName}} {
		if got := explain(err, nil); !strings.HasPrefix(got.Error(), err.Error()+"; check --") {
			t.Errorf("%v: %q", err, got)
		}
	}
	if got := explain(registry.ErrStalled, nil); got != registry.ErrStalled {
		t.Errorf("a stall has no flag, got %q", got)
	}
	other := errors.New("other")
	if explain(other, nil) != other || explain(nil, nil) != nil {
		t.Error("explain changed an error no row answers")
	}
}
