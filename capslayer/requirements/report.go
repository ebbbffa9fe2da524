package requirements

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// Report is the output of capslayer requirements: one Result per image.
type Report struct {
	inspect.Origin
	Images []*Result `json:"images"`
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes the report for people, one idea per line: per image the
// files and capabilities, then per target the run line or securityContext
// with what was measured and the caveats, then warnings and notes.
func (rep *Report) WriteText(w io.Writer) error {
	ew := &strings.Builder{}
	for i, r := range rep.Images {
		if i > 0 {
			fmt.Fprintln(ew)
		}
		if r.Image != "" || r.Platform != "" {
			fmt.Fprintf(ew, "image %s %s from %s (%s)\n", dash(r.Image), dash(r.Platform), rep.Source, rep.Kind)
		} else {
			fmt.Fprintf(ew, "%s (%s)\n", rep.Source, rep.Kind)
		}
		switch {
		case !r.UserKnown:
			fmt.Fprintf(ew, "user: unknown\n")
		case r.User == "":
			fmt.Fprintf(ew, "user: root (%s sets none)\n", r.UserSource)
		default:
			fmt.Fprintf(ew, "user: %s (%s)\n", r.User, r.UserSource)
		}
		if len(r.Files) == 0 {
			fmt.Fprintf(ew, "files with capabilities: none\n")
		} else {
			fmt.Fprintf(ew, "files with capabilities:\n")
			tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
			for _, f := range r.Files {
				fmt.Fprintf(tw, "  %s\t%s\tlayer %d\n", f.Path, f.Caps, f.Layer)
			}
			tw.Flush() // writes to a strings.Builder: no error
		}
		capsText := "none"
		if len(r.Capabilities) > 0 {
			capsText = strings.Join(r.Capabilities, ", ")
		}
		fmt.Fprintf(ew, "capabilities to grant: %s\n", capsText)
		for _, rt := range r.Runtimes {
			fmt.Fprintln(ew)
			measured := "measured: " + rt.Evidence
			if !rt.Measured {
				measured = rt.Evidence
			}
			fmt.Fprintf(ew, "%s (%s):\n", rt.Name, measured)
			if rt.Command != nil {
				fmt.Fprintf(ew, "  %s\n", CommandLine(rt.Command))
			}
			if rt.SecurityContext != nil {
				if rt.Target == KubernetesCRIO {
					fmt.Fprintf(ew, "  the securityContext above\n")
				} else {
					fmt.Fprint(ew, rt.SecurityContext.YAML(2))
				}
				fmt.Fprintf(ew, "  Pod Security Standards: %s\n", rt.PodSecurityLevel)
				if rt.PodSecurityReason != "" && rt.Target != KubernetesCRIO {
					fmt.Fprintf(ew, "  not restricted: %s\n", rt.PodSecurityReason)
				}
			}
			for _, c := range rt.Caveats {
				fmt.Fprintf(ew, "  - %s\n", c)
			}
		}
		if len(r.Warnings) > 0 {
			fmt.Fprintf(ew, "\nwarnings:\n")
			for _, w := range r.Warnings {
				fmt.Fprintf(ew, "  - %s\n", w.Text)
			}
		}
		if len(r.Notes) > 0 {
			fmt.Fprintf(ew, "\nnotes:\n")
			for _, s := range r.Notes {
				fmt.Fprintf(ew, "  - %s\n", s)
			}
		}
	}
	_, err := io.WriteString(w, ew.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CommandLine returns argv as one line a POSIX shell runs as argv.
func CommandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
