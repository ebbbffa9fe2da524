package main

import (
	"archive/tar"
	"fmt"
	"io"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

const labelsUsage = `--output FILE [--base IMAGE [--platform os/arch]] [LAYER...]`

const labelsHelp = `Writes the image config label that capslayer image puts in the images it
assembles, for an image assembled by another tool (rules_oci's oci_image,
crane append...): one line io.capslayer.capabilities=JSON, the key=value
form oci_image(labels = ...) takes. JSON maps each file of the final
filesystem that carries a security.capability xattr to its capabilities, as
getcap prints them.

The final filesystem is the layers of --base (an OCI layout, oci-archive,
docker save tarball or registry reference; --platform picks one image of a
multi-platform base), then each LAYER tar in the order given, applied as a
runtime applies them: give every layer the image adds, in the order of
oci_image(tars = ...), so that a later layer that replaces or removes a file
is accounted for. Without --base, files of the base image are not listed:
audit, requirements and admission-policy then report the label as not
matching an image whose base has capability files.

audit, requirements and admission-policy read the label of such an image
and verify it against its layers, as for images capslayer image writes.`

func runLabels(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("labels", labelsUsage, labelsHelp, stderr)
	var (
		output   = fs.outputFile("output", "", "labels `file` to write")
		base     = fs.inputPath("base", "", "base `image` whose layers come first (OCI layout, oci-archive, docker save tarball or registry reference)")
		platform = fs.String("platform", "", "with --base: the image of a multi-platform base, `os/arch[/variant]`")
		insecure = fs.Bool("insecure", false, "with --base: allow plain HTTP to a registry on this machine (localhost, 127.0.0.0/8, ::1 only)")
		caFile   = fs.inputFile("ca-file", "", "with --base: PEM `file` of CA certificates to trust for registries, besides the system's")
		timeout  = addTimeoutFlag(fs)
	)
	if err := fs.parse(args); err != nil {
		return err
	}
	if *output == "" {
		return usagef("--output is required: name the labels file to write, e.g. --output image.labels")
	}
	if *base == "" {
		for _, name := range []string{"platform", "insecure", "ca-file", "timeout"} {
			if fs.isSet(name) {
				return usagef("--%s only goes with --base", name)
			}
		}
		if fs.NArg() == 0 {
			return usagef("nothing to read: give the image's layer tars, and its base with --base")
		}
	}
	if err := atomicfile.Check("output", *output, "image.labels"); err != nil {
		return usagef("%v", err)
	}
	sc := tarfs.NewScanner(nil)
	if *base != "" {
		img, err := openBase("--base", *base, *platform, registry.Options{Insecure: *insecure, CAFile: *caFile, Timeout: *timeout})
		if err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return fmt.Errorf("--base: %w", err)
		}
		for i := range m.Layers {
			walk := sc.Layer()
			if _, err := inspect.ReadLayer(img, i, func(name string, hdr *tar.Header, _ io.Reader) error {
				return walk(name, hdr)
			}); err != nil {
				return fmt.Errorf("--base: %w", err)
			}
		}
	}
	for _, p := range fs.Args() {
		f, _, err := openfile.Regular(p, "layer "+p)
		if err != nil {
			return err
		}
		_, err = tarfs.Walk(f, sc.Layer())
		f.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", p, err)
		}
	}
	label := imagemeta.Expected(inspect.Image{Layers: sc.Finish()}).Label.Encode()
	out, err := atomicfile.Create(*output)
	if err != nil {
		return err
	}
	defer out.Discard()
	if _, err := fmt.Fprintf(out, "%s=%s\n", imagemeta.LabelCapabilities, label); err != nil {
		return fmt.Errorf("write %s: %w", *output, err)
	}
	return out.Commit()
}
