package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
)

// WriteText writes res as a table of every file with capabilities followed
// by the findings and a one-line verdict, for people.
func (res *Result) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "audit of %s (%s)\n", res.Source, res.Kind)
	fmt.Fprintf(ew, "policy: %s\n\n", res.Policy.Description)
	if len(res.Files) == 0 {
		fmt.Fprintf(ew, "no file has capabilities\n")
	} else {
		withImage := false
		for _, f := range res.Files {
			if f.Image != "" || f.Platform != "" {
				withImage = true
			}
		}
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		if withImage {
			fmt.Fprint(tw, "IMAGE\tPLATFORM\t")
		}
		fmt.Fprint(tw, "LAYER\tPATH\tCAPABILITIES\tRESULT\n")
		for _, f := range res.Files {
			if withImage {
				fmt.Fprintf(tw, "%s\t%s\t", dash(printable.String(f.Image)), dash(printable.String(f.Platform)))
			}
			c := f.Caps
			if f.Invalid != "" {
				c = "invalid: " + f.Hex
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", f.Layer, printable.String(f.Path), c, fileStatusText(f))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(res.Findings) > 0 {
		fmt.Fprintf(ew, "\nfindings:\n")
		for _, fd := range res.Findings {
			fmt.Fprintf(ew, "  %s [%s] %s\n", strings.ToUpper(string(fd.Level)), fd.Rule, printable.Text(fd.Message))
			if fd.Fix != "" {
				fmt.Fprintf(ew, "      fix: %s\n", printable.Text(fd.Fix))
			}
		}
	}
	for _, u := range res.Unused {
		fmt.Fprintf(ew, "\nnote: justification %q matched no capability of a file in the container's filesystem; remove it if it is stale\n", u)
	}
	errs, warns, notes := res.Counts()
	shadowed := 0
	for _, f := range res.Files {
		if f.ShadowedBy >= 0 {
			shadowed++
		}
	}
	verdict := "PASS"
	switch {
	case !res.Passed && errs > res.UnverifiedImages():
		verdict = "FAIL"
	case !res.Verified:
		// Nothing but the label was read: neither PASS nor a violation.
		verdict = "UNVERIFIED"
	case !res.Passed:
		verdict = "FAIL"
	}
	fmt.Fprintf(ew, "\n%s: %s, %s, %s; %s (%d shadowed)\n", verdict,
		plural(errs, "error"), plural(warns, "warning"), plural(notes, "note"),
		plural(len(res.Files), "file with capabilities", "files with capabilities"), shadowed)
	return ew.err
}

func fileStatusText(f FileResult) string {
	if f.Source == inspect.FromLabel {
		return fileResultText(f) + " [" + inspect.FromLabel + "]"
	}
	return fileResultText(f)
}

func fileResultText(f FileResult) string {
	switch f.Status {
	case StatusShadowed:
		return fmt.Sprintf("shadowed by layer %d (not checked)", f.ShadowedBy)
	case StatusFail:
		return "FAIL"
	case StatusWarn:
		return "warning"
	}
	if len(f.Justified) > 0 {
		var names []string
		for _, j := range f.Justified {
			names = append(names, j.Cap)
		}
		return "ok (justified: " + strings.Join(names, ", ") + ")"
	}
	return "ok"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one string, many ...string) string {
	if n == 1 {
		return "1 " + one
	}
	if len(many) > 0 {
		return fmt.Sprintf("%d %s", n, many[0])
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// errWriter remembers the first write error so that the many Fprintf
// calls above need no checks of their own.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// WriteJSON writes res as indented JSON (the fields of Result).
func (res *Result) WriteJSON(w io.Writer) error {
	return writeJSON(w, res)
}

// writeJSON writes v as quote.JSON does: indented, unprintable runes
// escaped.
func writeJSON(w io.Writer, v any) error {
	b, err := quote.JSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// SARIF 2.1.0 (OASIS) document types, only the parts capslayer writes.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration sarifRuleConfig   `json:"defaultConfiguration"`
	Properties           sarifRuleProperty `json:"properties"`
}

type sarifRuleConfig struct {
	Level Level `json:"level"`
}

type sarifRuleProperty struct {
	Tags             []string `json:"tags"`
	Precision        string   `json:"precision"`
	SecuritySeverity string   `json:"security-severity"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               Level             `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          sarifResultProps  `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

// sarifRegion is always line 1: the artifact is a binary image or layer,
// and GitHub code scanning expects a region to place the alert.
type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifResultProps struct {
	Image        string    `json:"image,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	Layer        int       `json:"layer"`
	LayerDigest  string    `json:"layerDigest,omitempty"`
	Path         string    `json:"path"`
	Capabilities caps.Mask `json:"capabilities,omitempty"`
	// Source is where the capabilities were read (Location.Source).
	Source string `json:"source"`
}

// SARIFSchema is the JSON schema URI written in SARIF output.
const SARIFSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

// securitySeverity is what GitHub code scanning shows as the severity of a
// security alert (0.0-10.0; >= 7.0 is "high").
var securitySeverity = map[string]string{
	RuleNotAllowed: "7.5",
	RuleDangerous:  "8.0",
	RuleTooMany:    "5.0",
	RuleInvalid:    "5.0",
	RuleNamespaced: "3.0",
	RuleShadowed:   "0.0",
	RuleUnsafeMode: "7.5",
	RuleUnverified: "7.0",
}

// WriteSARIF writes res as a SARIF 2.1.0 log for code-scanning UIs: one
// rule per audit rule, one result per finding. A result's physical location
// is the audited image or layer (res.Source, relative to the working
// directory when it is a relative path), its logical location the file's
// path inside the image. toolVersion is capslayer's version.
func (res *Result) WriteSARIF(w io.Writer, toolVersion string) error {
	log := sarifLog{Schema: SARIFSchema, Version: "2.1.0"}
	driver := sarifDriver{
		Name:           "capslayer",
		Version:        toolVersion,
		InformationURI: "https://github.com/capslayer/rules_capslayer",
	}
	index := map[string]int{}
	for i, r := range rules {
		index[r.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   r.ID,
			Name:                 r.Name,
			ShortDescription:     sarifText{r.Summary},
			FullDescription:      sarifText{r.Summary + " " + r.Help},
			Help:                 sarifText{r.Help},
			DefaultConfiguration: sarifRuleConfig{r.Level},
			Properties: sarifRuleProperty{
				Tags:             []string{"security", "capabilities", "container"},
				Precision:        "very-high",
				SecuritySeverity: securitySeverity[r.ID],
			},
		})
	}
	artifact := sarifArtifactFor(res.Source)
	results := []sarifResult{}
	for _, fd := range res.Findings {
		msg := fd.Message
		if fd.Fix != "" {
			msg += ". Fix: " + fd.Fix + "."
		}
		fq, short := fd.Path, fd.Path[strings.LastIndex(fd.Path, "/")+1:]
		switch {
		case fd.Path == "":
			// A finding about the whole image.
			fq, short = fd.Image, fd.Image
		case fd.Image != "":
			fq = fd.Image + ":" + fd.Path
		}
		results = append(results, sarifResult{
			RuleID:    fd.Rule,
			RuleIndex: index[fd.Rule],
			Level:     fd.Level,
			Message:   sarifText{msg},
			Locations: []sarifLocation{{
				PhysicalLocation: sarifPhysical{ArtifactLocation: artifact, Region: sarifRegion{StartLine: 1}},
				LogicalLocations: []sarifLogical{{
					Name:               short,
					FullyQualifiedName: fq,
					Kind:               "resource",
				}},
			}},
			PartialFingerprints: map[string]string{"capslayerFinding/v1": fingerprint(fd)},
			Properties: sarifResultProps{
				Image:        fd.Image,
				Platform:     fd.Platform,
				Layer:        fd.Layer,
				LayerDigest:  fd.LayerDigest,
				Path:         fd.Path,
				Capabilities: fd.Caps,
				Source:       fd.Source,
			},
		})
	}
	log.Runs = []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}
	return writeJSON(w, log)
}

// sarifArtifactFor turns the audited path into a SARIF artifact location:
// a relative path stays relative to the checkout (%SRCROOT%), an absolute
// one becomes a file URI.
func sarifArtifactFor(source string) sarifArtifact {
	s := filepath.ToSlash(source)
	if filepath.IsAbs(source) {
		return sarifArtifact{URI: (&url.URL{Scheme: "file", Path: s}).String()}
	}
	s = strings.TrimPrefix(s, "./")
	return sarifArtifact{URI: (&url.URL{Path: s}).String(), URIBaseID: "%SRCROOT%"}
}

// fingerprint identifies a finding across runs so code-scanning UIs can
// track it: rule, image, path and capabilities, not the layer index (which
// moves when the base image changes).
func fingerprint(fd Finding) string {
	h := sha256.Sum256([]byte(strings.Join([]string{fd.Rule, fd.Image, fd.Platform, fd.Path, strings.Join(fd.Caps.DockerNames(), ",")}, "\x00")))
	return hex.EncodeToString(h[:16])
}
