package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
	"github.com/capslayer/rules_capslayer/capslayer/source"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

const inspectUsage = "[--json] PATH"

const inspectHelp = `Lists every file that carries a security.capability xattr (a file
capability, as setcap sets) in PATH, which is one of:
  - a layer tar, plain, gzip or zstd (what 'capslayer layer' writes);
  - an OCI image layout directory, or one packed in a tar (oci-archive):
    every image of index.json, image indexes followed recursively
    (multi-platform images list one image per platform);
  - a docker save / podman save tarball.

Each file is shown with its layer (0 = the base layer), the capability
text as getcap prints it, the raw value in hex, its mode and owner, and
whether it is visible in the final filesystem or which later layer
overwrote or whited it out. Layer blobs are checked against their
digests. --json prints the same as JSON (see docs/inspect.md).

Examples:
  capslayer inspect bazel-bin/app/caps_layer.tar
  capslayer inspect --json bazel-bin/app/image`

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", inspectUsage, inspectHelp+"\n\n"+imageArgHelp, stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	config := fs.Bool("config", false, "print the image config as stored (JSON, as crane config does), one per image; the io.capslayer.capabilities label lists the file capabilities")
	sf := addSourceFlags(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("inspect takes one PATH (a layer tar, an OCI layout directory or a docker save tarball) or registry reference, got %d arguments", fs.NArg())
	}
	if *config && *asJSON {
		return usagef("--config and --json do not go together: the config is JSON already")
	}
	in, rep, err := sf.load(fs.Arg(0), stderr, "inspect")
	if err != nil {
		return err
	}
	if *config {
		return printConfigs(stdout, fs.Arg(0), in)
	}
	if *asJSON {
		b, err := quote.JSON(jsonReport(rep))
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	return printReport(stdout, rep)
}

// printConfigs prints the raw config of every image, each followed by a
// newline; the config was parsed as JSON when read, so quote.EscapeJSON
// applies.
func printConfigs(w io.Writer, arg string, in *source.Input) error {
	if len(in.Images) == 0 {
		return fmt.Errorf("%s is a single layer: it has no image config", arg)
	}
	seen := map[string]bool{}
	for _, src := range in.Images {
		if seen[src.Digest] {
			continue
		}
		seen[src.Digest] = true
		b, err := src.Image.RawConfigFile()
		if err != nil {
			return fmt.Errorf("%s: image %s: %w", arg, src.Name, err)
		}
		// Byte for byte, but for what a terminal must not get raw.
		if _, err := w.Write(append(quote.EscapeJSON(b), '\n')); err != nil {
			return err
		}
	}
	return nil
}

// printReport prints one table per image.
func printReport(w io.Writer, rep *inspect.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, im := range rep.Images {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		if rep.Kind != inspect.KindLayer {
			fmt.Fprintf(tw, "image %s  %s  %s  (%d layers)\n", printable.String(im.Name), im.Digest, orDash(printable.String(im.Platform)), len(im.Layers))
			if im.LabelOnly {
				fmt.Fprintf(tw, "capabilities from the image's %s label, layers not read: %s\n", imagemeta.LabelCapabilities, inspect.FromLabel)
			}
		}
		files := im.Files()
		if len(files) == 0 {
			fmt.Fprintln(tw, "no file capabilities")
			continue
		}
		fmt.Fprintln(tw, "LAYER\tPATH\tCAPS\tHEX\tMODE\tOWNER\tSTATUS")
		for _, f := range files {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%04o\t%d:%d\t%s\n", f.Layer, displayPath(f), capsText(f), hex.EncodeToString(f.Raw), f.Mode, f.UID, f.GID, status(f))
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(tw, "skipped %s: not an image\n", printable.String(s))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// displayPath is the PATH cell: control characters in names are escaped
// so that a name cannot break the table.
func displayPath(f tarfs.File) string {
	p := printable.String(f.Path)
	if f.Type == "hardlink" {
		return p + " => " + printable.String(f.Link)
	}
	if f.Type != "file" {
		return p + " (" + f.Type + ")"
	}
	return p
}

func capsText(f tarfs.File) string {
	if f.Invalid != "" {
		return "(invalid)"
	}
	return strings.ReplaceAll(f.Xattr.String(), " ", "")
}

func status(f tarfs.File) string {
	var s string
	if f.Visible() {
		s = "visible"
	} else {
		s = fmt.Sprintf("shadowed by layer %d", f.ShadowedBy)
	}
	if f.Invalid != "" {
		s += "; invalid: " + f.Invalid
	}
	return s
}

// The JSON form of a Report; docs/inspect.md documents it. Field names are
// part of the interface: add, never rename.
type (
	jsonReportT struct {
		inspect.Origin
		Images  []jsonImage `json:"images"`
		Skipped []string    `json:"skipped"`
	}
	jsonImage struct {
		Name     string `json:"name"`
		Digest   string `json:"digest"`
		Platform string `json:"platform"`
		// Source is where the files were read: inspect.FromLayer or
		// inspect.FromLabel ("label-unverified").
		Source string      `json:"source"`
		Layers []jsonLayer `json:"layers"`
	}
	jsonLayer struct {
		Index     int        `json:"index"`
		Digest    string     `json:"digest"`
		DiffID    string     `json:"diff_id"`
		MediaType string     `json:"media_type"`
		Files     []jsonFile `json:"files"`
	}
	jsonFile struct {
		Path        string   `json:"path"`
		Type        string   `json:"type"`
		Link        string   `json:"link,omitempty"`
		Caps        string   `json:"caps"`
		Permitted   []string `json:"permitted"`
		Inheritable []string `json:"inheritable"`
		Effective   bool     `json:"effective"`
		Revision    int      `json:"revision"`
		RootID      *uint32  `json:"rootid,omitempty"`
		Hex         string   `json:"hex"`
		Invalid     string   `json:"invalid,omitempty"`
		Mode        string   `json:"mode"`
		UID         int      `json:"uid"`
		GID         int      `json:"gid"`
		Size        int64    `json:"size"`
		Layer       int      `json:"layer"`
		ShadowedBy  int      `json:"shadowed_by"`
		Visible     bool     `json:"visible"`
		Source      string   `json:"source"`
	}
)

func jsonReport(rep *inspect.Report) jsonReportT {
	out := jsonReportT{Origin: rep.Origin, Images: []jsonImage{}, Skipped: rep.Skipped}
	if out.Skipped == nil {
		out.Skipped = []string{}
	}
	for _, im := range rep.Images {
		ji := jsonImage{Name: im.Name, Digest: im.Digest, Platform: im.Platform, Source: im.FilesFrom(), Layers: []jsonLayer{}}
		for _, l := range im.Layers {
			jl := jsonLayer{Index: l.Index, Digest: l.Digest, DiffID: l.DiffID, MediaType: l.MediaType, Files: []jsonFile{}}
			for _, f := range l.Files {
				jf := jsonFile{
					Path: f.Path, Type: f.Type, Link: f.Link,
					Permitted: []string{}, Inheritable: []string{},
					Hex: hex.EncodeToString(f.Raw), Invalid: f.Invalid,
					Mode: fmt.Sprintf("%04o", f.Mode), UID: f.UID, GID: f.GID, Size: f.Size,
					Layer: f.Layer, ShadowedBy: f.ShadowedBy, Visible: f.Visible(),
					Source: im.FilesFrom(),
				}
				if f.Invalid == "" {
					x := f.Xattr
					jf.Caps = x.Caps.String()
					jf.Permitted = append(jf.Permitted, x.Caps.Permitted.Names()...)
					jf.Inheritable = append(jf.Inheritable, x.Caps.Inheritable.Names()...)
					jf.Effective = x.Caps.Effective
					jf.Revision = x.Revision
					if x.Revision == 3 {
						id := x.RootID
						jf.RootID = &id
					}
				}
				jl.Files = append(jl.Files, jf)
			}
			ji.Layers = append(ji.Layers, jl)
		}
		out.Images = append(out.Images, ji)
	}
	return out
}
