package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/policy"
)

const auditHelp = `Checks every file capability in IMAGE against a policy.

IMAGE is a layer tar (plain, gzip or zstd), an OCI image layout directory or a docker save tarball.`

// runAudit implements "capslayer audit": check every file capability of a
// layer or image against a policy. It exits 1 (checkFailedError) when a
// rule of level error is broken.
func runAudit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "[flags] IMAGE", auditHelp+"\n\n"+imageArgHelp, stderr)
	profile := fs.String("profile", "", "allowlist `profile`: "+strings.Join(policy.ProfileNames(), ", ")+" (none allows nothing: combine it with --allow)")
	allow := listFlag[caps.Mask]{parse: policy.ParseCapList}
	fs.Var(&allow, "allow", "`capabilities` allowed in addition to the profile, comma separated: NET_RAW,CHOWN (repeatable; ALL allows every capability)")
	maxCaps := fs.Int("max-caps", policy.DefaultMaxCaps, "a file with more than `N` capabilities needs a justification for each (-1: no limit)")
	justs := listFlag[policy.Justification]{parse: policy.ParseJustification}
	fs.Var(&justs, "justify", "written `justification`: CAP=REASON for every file or /path:CAP=REASON for one (repeatable)")
	policyFile := fs.inputFile("policy", "", "JSON policy `file` (profile, allow, max_caps, justifications; see docs/policy.md); flags add to it and override it")
	jsonOut := fs.Bool("json", false, "print the result as JSON instead of a table")
	sarifOut := fs.outputFile("sarif", "", "also write the result as a SARIF 2.1.0 log to `file`, for code-scanning UIs")
	hintStyle := fs.hintStyle("caps_policy_test")
	sf := addSourceFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) != 1 {
		return usagef("audit takes one IMAGE (a layer tar, an OCI layout directory or a docker save tarball), got %d arguments (see 'capslayer audit --help')", len(pos))
	}
	set := fs.isSet

	p := policy.Default("")
	if *policyFile != "" {
		var err error
		if p, err = policy.LoadFile(*policyFile); err != nil {
			return err
		}
	} else if !set("profile") && !set("allow") {
		return usagef("choose a policy: --profile %s, --allow CAP,... or --policy FILE", strings.Join(policy.ProfileNames(), "|"))
	}
	if set("profile") {
		if _, err := policy.LookupProfile(*profile); err != nil {
			return usagef("--profile: %v; for a custom list, use --profile none with --allow CAP,...", err)
		}
		p.Profile = *profile
	}
	for _, m := range allow.values {
		p.Allow |= m
	}
	if set("max-caps") {
		p.MaxCaps = *maxCaps
	}
	p.Justifications = append(p.Justifications, justs.values...)
	if err := p.Validate(); err != nil {
		return usagef("%v", err)
	}
	if *sarifOut != "" {
		if err := atomicfile.Check("--sarif", *sarifOut, "capslayer.sarif"); err != nil {
			return usagef("%v", err)
		}
	}

	_, rep, err := sf.load(pos[0], stderr, "audit")
	if err != nil {
		return err
	}
	if err := checkSomethingRead(pos[0], rep); err != nil {
		return err
	}
	res := policy.Audit(rep, p)
	wordFixes(res, hintStyle)
	if *sarifOut != "" {
		var buf bytes.Buffer
		if err := res.WriteSARIF(&buf, version); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*sarifOut, buf.Bytes()); err != nil {
			return err
		}
	}
	if *jsonOut {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !res.Passed {
		errs, _, _ := res.Counts()
		if !res.Verified && errs == res.UnverifiedImages() {
			return &checkFailedError{msg: fmt.Sprintf("%s: UNVERIFIED: the capabilities were taken from the image's label, its layers not read, so there is no verdict (drop --label-only)", printable.String(pos[0]))}
		}
		n := map[bool]string{true: "violation", false: "violations"}[errs == 1]
		return &checkFailedError{msg: fmt.Sprintf("%s: %d policy %s (%s)", pos[0], errs, n, policyFailSummary(res))}
	}
	return nil
}

// checkSomethingRead is the guard at the verdict: audit never says PASS
// about an input of which it read no image or no layer (an empty
// index.json would otherwise pass with "0 files").
func checkSomethingRead(path string, rep *inspect.Report) error {
	layers := 0
	for _, im := range rep.Images {
		layers += len(im.Layers)
	}
	if len(rep.Images) == 0 || layers == 0 {
		return fmt.Errorf("%s: %d images and %d layers read, so nothing was audited: refusing to give a verdict (give a layer tar, an OCI layout or a docker save tarball that holds an image with layers)", path, len(rep.Images), layers)
	}
	return nil
}

// policyFailSummary names the offending files and capabilities, for the
// one-line stderr message.
func policyFailSummary(res *policy.Result) string {
	var parts []string
	seen := map[string]bool{}
	for _, f := range res.Findings {
		if f.Level != policy.LevelError {
			continue
		}
		s := printable.String(f.Path)
		if f.Path == "" {
			s = "image " + printable.String(f.Image)
		}
		if f.Caps != 0 {
			s += " " + strings.Join(f.Caps.DockerNames(), ",")
		}
		s += " [" + f.Rule + "]"
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	const max = 5
	if len(parts) > max {
		parts = append(parts[:max], fmt.Sprintf("and %d more", len(parts)-max))
	}
	return strings.Join(parts, "; ")
}
