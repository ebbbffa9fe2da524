package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/admission"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/requirements"
)

const admissionHelp = `Writes a Kubernetes ValidatingAdmissionPolicy and its binding
(admissionregistration.k8s.io/v1, Kubernetes 1.30 or later) that admit a
container of one of these images, pinned by digest (image: NAME@sha256:...),
only with securityContext.capabilities drop: [ALL] and add: exactly the
capabilities the image's files carry, allowPrivilegeEscalation: false,
runAsNonRoot: true and not privileged; containers of other images (and
references by tag only) may add no capability. Install the output with
kubectl apply -f. See docs/admission.md.

IMAGE is an OCI image layout directory or oci-archive (what caps_image
writes) or a registry reference; every image of a multi-platform layout or
manifest list is covered, by its manifest digest. A docker save tarball has
no manifest digest and is refused.

Examples:
  capslayer admission-policy bazel-bin/examples/server/server_image > policy.yaml
  capslayer admission-policy --namespace web --output policy.yaml app1 app2`

// runAdmissionPolicy implements "capslayer admission-policy".
func runAdmissionPolicy(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("admission-policy", "[flags] IMAGE...", admissionHelp, stderr)
	output := fs.outputFile("output", "", "write the YAML to `file` instead of standard output")
	name := fs.String("name", admission.DefaultName, "`name` of the policy and of its binding")
	var others stringList
	fs.Var(&others, "others-may-add", "`capabilities` containers of other images may add, comma separated (repeatable; ALL: any, and privileged)")
	allowEscalation := fs.Bool("allow-privilege-escalation", false, "do not require allowPrivilegeEscalation: false (for runtimes where no_new_privs drops file capabilities, e.g. Docker engine through cri-dockerd)")
	var namespaces stringList
	fs.Var(&namespaces, "namespace", "bind the policy in `namespace` only (repeatable; default: every namespace except "+strings.Join(admission.DefaultExcludedNamespaces, ", ")+")")
	sf := addSourceFlags(fs)
	warn := fs.Bool("warn", false, "warn and audit instead of denying (validationActions [Warn, Audit]), to try the policy on a running cluster")
	if err := fs.parse(args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) == 0 {
		return usagef("admission-policy takes one or more IMAGEs (OCI layout directories), got none (see 'capslayer admission-policy --help')")
	}
	if *output != "" {
		if err := atomicfile.Check("--output", *output, "policy.yaml"); err != nil {
			return usagef("%v", err)
		}
	}
	opts := admission.Options{Name: *name, AllowPrivilegeEscalation: *allowEscalation, Warn: *warn, Namespaces: namespaces.values}
	for _, o := range others.values {
		for _, c := range strings.Split(o, ",") {
			if c = strings.TrimSpace(c); c != "" {
				opts.OthersMayAdd = append(opts.OthersMayAdd, c)
			}
		}
	}

	var images []admission.Image
	for _, src := range pos {
		imgs, err := admissionImages(sf, src, stderr)
		if err != nil {
			return err
		}
		images = append(images, imgs...)
	}
	p, err := admission.Generate(images, opts)
	if err != nil {
		return explain(err, nil)
	}
	y, err := p.YAML()
	if err != nil {
		return err
	}
	if *output != "" {
		return atomicfile.WriteFile(*output, y)
	}
	_, err = stdout.Write(y)
	return err
}

// admissionImages reads the images of src and the capabilities each must
// be granted: the capabilities `capslayer requirements` lists.
func admissionImages(sf *sourceFlags, src string, stderr io.Writer) ([]admission.Image, error) {
	_, rep, err := sf.load(src, stderr, "admission-policy")
	if err != nil {
		return nil, err
	}
	switch rep.Kind {
	case inspect.KindOCILayout, inspect.KindOCIArchive, registry.KindRegistry:
	case inspect.KindDockerArchive:
		return nil, fmt.Errorf("%s is a docker save tarball: it holds no manifest, so the digest a registry will serve the image under is unknown; give the OCI layout (caps_image's default output) instead", src)
	default:
		return nil, fmt.Errorf("%s is a single layer, not an image: give an OCI image layout (caps_image's default output)", src)
	}
	var out []admission.Image
	for _, img := range rep.Images {
		r, err := requirements.Compute(img, requirements.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", src, img.Name, err)
		}
		out = append(out, admission.Image{Digest: img.Digest, Name: img.Name, Capabilities: r.Capabilities})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no image", src)
	}
	return out, nil
}
