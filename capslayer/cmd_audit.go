package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/policy"
)

// runAudit implements "capslayer audit": check every file capability of a
// layer or image against a policy. It exits 1 (checkFailedError) when a
// rule of level error is broken.
func runAudit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "[flags] IMAGE\n\nIMAGE is a layer tar (plain, gzip or zstd), an OCI image layout directory or a docker save tarball", stderr)
	profile := fs.String("profile", "", "allowlist `profile`: "+strings.Join(policy.ProfileNames(), ", ")+" (none allows nothing: combine it with --allow)")
	var allow capListFlag
	fs.Var(&allow, "allow", "`capabilities` allowed in addition to the profile, comma separated: NET_RAW,CHOWN (repeatable; ALL allows every capability)")
	maxCaps := fs.Int("max-caps", policy.DefaultMaxCaps, "a file with more than `N` capabilities needs a justification for each (-1: no limit)")
	var justs justifyFlag
	fs.Var(&justs, "justify", "written `justification`: CAP=REASON for every file or /path:CAP=REASON for one (repeatable)")
	policyFile := fs.String("policy", "", "JSON policy `file` (profile, allow, max_caps, justifications; see docs/policy.md); flags add to it and override it")
	jsonOut := fs.Bool("json", false, "print the result as JSON instead of a table")
	sarifOut := fs.String("sarif", "", "also write the result as a SARIF 2.1.0 log to `file`, for code-scanning UIs")
	pos, err := policyParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("audit takes one IMAGE (a layer tar, an OCI layout directory or a docker save tarball), got %d arguments (see 'capslayer audit --help')", len(pos))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	p := policy.Default("")
	if *policyFile != "" {
		if p, err = policy.LoadFile(*policyFile); err != nil {
			return err
		}
	} else if !set["profile"] && !set["allow"] {
		return usagef("choose a policy: --profile %s, --allow CAP,... or --policy FILE", strings.Join(policy.ProfileNames(), "|"))
	}
	if set["profile"] {
		if _, err := policy.LookupProfile(*profile); err != nil {
			return usagef("--profile: %v", err)
		}
		p.Profile = *profile
	}
	p.Allow |= allow.mask
	if set["max-caps"] {
		p.MaxCaps = *maxCaps
	}
	p.Justifications = append(p.Justifications, justs.list...)
	if err := p.Validate(); err != nil {
		return usagef("%v", err)
	}
	if *sarifOut != "" {
		if err := policyCheckOutput("--sarif", *sarifOut); err != nil {
			return usagef("%v", err)
		}
	}

	rep, err := inspect.Path(pos[0])
	if err != nil {
		return err
	}
	res := policy.Audit(rep, p)
	if *sarifOut != "" {
		var buf bytes.Buffer
		if err := res.WriteSARIF(&buf, version); err != nil {
			return err
		}
		if err := policyWriteFile(*sarifOut, buf.Bytes()); err != nil {
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
		n := map[bool]string{true: "violation", false: "violations"}[errs == 1]
		return &checkFailedError{msg: fmt.Sprintf("%s: %d policy %s (%s)", pos[0], errs, n, policyFailSummary(res))}
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
		s := f.Path
		if len(f.Caps) > 0 {
			s += " " + strings.Join(f.Caps, ",")
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

// capListFlag is a repeatable flag of comma separated capability names.
type capListFlag struct {
	mask  caps.Mask
	texts []string
}

func (f *capListFlag) String() string { return strings.Join(f.texts, ",") }

func (f *capListFlag) Set(s string) error {
	m, err := policy.ParseCapList(s)
	if err != nil {
		return err
	}
	f.mask |= m
	f.texts = append(f.texts, s)
	return nil
}

// justifyFlag is a repeatable --justify.
type justifyFlag struct{ list []policy.Justification }

func (f *justifyFlag) String() string {
	var s []string
	for _, j := range f.list {
		s = append(s, j.String())
	}
	return strings.Join(s, " ")
}

func (f *justifyFlag) Set(s string) error {
	j, err := policy.ParseJustification(s)
	if err != nil {
		return err
	}
	f.list = append(f.list, j)
	return nil
}

// policyParseArgs parses flags that may come before or after the
// positional arguments ("audit IMAGE --profile x" works as well as "audit
// --profile x IMAGE"); "--" ends the flags.
func policyParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse stops at "--" (consumed) or at the first positional
		// argument; after "--" everything is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// policyCheckOutput rejects an output path that cannot be written: a
// directory, or a file in a directory that does not exist.
func policyCheckOutput(flagName, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s %s is a directory: give a file name, e.g. %s", flagName, path, filepath.Join(path, "capslayer.sarif"))
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s %s: directory %s does not exist: create it first", flagName, path, dir)
	}
	return nil
}

// policyWriteFile writes data to path atomically: a temporary file beside
// it is renamed over it, so a failed write leaves nothing at path.
func policyWriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
