package requirements

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
)

// Report is the output of capslayer requirements: one Result per image.
type Report struct {
	inspect.Origin
	Images []*Result `json:"images"`
}

// WriteJSON writes the report as indented JSON (quote.JSON).
func (rep *Report) WriteJSON(w io.Writer) error {
	b, err := quote.JSON(rep)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteText writes the report for people, one idea per line: per image the
// files and capabilities, then per target the run line or securityContext
// with what was measured and the caveats, then warnings and notes. Names
// from the input are escaped (printable.String), the run lines quoted
// (quote.Command) and the securityContext written by quote.YAML.
func (rep *Report) WriteText(w io.Writer) error {
	ew := &strings.Builder{}
	for i, r := range rep.Images {
		if i > 0 {
			fmt.Fprintln(ew)
		}
		if r.Image != "" || r.Platform != "" {
			fmt.Fprintf(ew, "image %s %s from %s (%s)\n", dash(printable.String(r.Image)), dash(printable.String(r.Platform)), printable.String(rep.Source), rep.Kind)
		} else {
			fmt.Fprintf(ew, "%s (%s)\n", printable.String(rep.Source), rep.Kind)
		}
		switch {
		case !r.UserKnown:
			fmt.Fprintf(ew, "user: unknown\n")
		case r.User == "":
			fmt.Fprintf(ew, "user: root (%s sets none)\n", printable.String(r.UserSource))
		default:
			fmt.Fprintf(ew, "user: %s (%s)\n", printable.String(r.User), printable.String(r.UserSource))
		}
		if len(r.Files) == 0 {
			fmt.Fprintf(ew, "files with capabilities: none\n")
		} else {
			fmt.Fprintf(ew, "files with capabilities:\n")
			tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
			for _, f := range r.Files {
				fmt.Fprintf(tw, "  %s\t%s\tlayer %d\n", printable.String(f.Path), f.Caps, f.Layer)
			}
			tw.Flush() // writes to a strings.Builder: no error
		}
		capsText := "none"
		if r.Capabilities != 0 {
			capsText = strings.Join(r.Capabilities.DockerNames(), ", ")
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
				line, err := quote.Command(rt.Command...)
				if err != nil {
					return err
				}
				fmt.Fprintf(ew, "  %s\n", line)
			}
			if rt.SecurityContext != nil {
				if rt.Target == KubernetesCRIO {
					fmt.Fprintf(ew, "  the securityContext above\n")
				} else {
					y, err := rt.SecurityContext.YAML(2)
					if err != nil {
						return err
					}
					fmt.Fprint(ew, y)
				}
				fmt.Fprintf(ew, "  Pod Security Standards: %s\n", rt.PodSecurityLevel)
				if rt.PodSecurityReason != "" && rt.Target != KubernetesCRIO {
					fmt.Fprintf(ew, "  not restricted: %s\n", printable.Text(rt.PodSecurityReason))
				}
			}
			for _, c := range rt.Caveats {
				fmt.Fprintf(ew, "  - %s\n", printable.Text(c))
			}
		}
		if len(r.Warnings) > 0 {
			fmt.Fprintf(ew, "\nwarnings:\n")
			for _, w := range r.Warnings {
				fmt.Fprintf(ew, "  - %s\n", printable.Text(w.Text))
			}
		}
		if len(r.Notes) > 0 {
			fmt.Fprintf(ew, "\nnotes:\n")
			for _, s := range r.Notes {
				fmt.Fprintf(ew, "  - %s\n", printable.Text(s))
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
