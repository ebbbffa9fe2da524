package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
	"github.com/capslayer/rules_capslayer/capslayer/requirements"
)

const requirementsHelp = `Prints the docker/podman flags and Kubernetes securityContext an image or layer needs.

PATH is a layer tar (plain, gzip or zstd), an OCI image layout directory or a docker save tarball.`

// runRequirements implements "capslayer requirements": what a runtime must
// grant for the file capabilities of a layer or image to work.
func runRequirements(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("requirements", "[flags] PATH", requirementsHelp+"\n\n"+imageArgHelp, stderr)
	user := fs.String("user", "", "`user` the container runs as (uid[:gid] or name); default: the image config's user")
	imageRef := fs.String("image", "", "image `reference` to put in the docker and podman lines (default: the image's own name when it is a full reference, registry/repository:tag, else IMAGE)")
	var paths stringList
	fs.Var(&paths, "path", "only account for the file at `path`, e.g. the entrypoint (repeatable; default: every file with capabilities)")
	platform := fs.String("platform", "", "only the image for `platform` (os/arch[/variant]) of a multi-platform layout")
	jsonOut := fs.Bool("json", false, "print the requirements as JSON")
	only := fs.String("only", "", "print only one `item`: docker, podman (the run line), flags (the run flags), kubernetes (the securityContext YAML) or capabilities (comma separated)")
	sf := addSourceFlags(fs)
	output := fs.outputFile("output", "", "write to `file` (atomically: a temporary file renamed into place) instead of stdout")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.isSet("output") {
		if err := atomicfile.Check("--output", *output, "requirements.txt"); err != nil {
			return usagef("%v", err)
		}
	}
	pos := fs.Args()
	if len(pos) != 1 {
		return usagef("requirements takes one PATH (a layer tar, an OCI layout directory or a docker save tarball), got %d arguments (see 'capslayer requirements --help')", len(pos))
	}
	switch *only {
	case "", "docker", "podman", "flags", "kubernetes", "capabilities":
	default:
		return usagef("--only %q: choose docker, podman, flags, kubernetes or capabilities", *only)
	}
	if *only != "" && *jsonOut {
		return usagef("--only and --json do not go together: --json prints everything")
	}
	if fs.isSet("image") {
		if err := requirements.CheckRef(*imageRef); err != nil {
			return usagef("--image: %v", err)
		}
	}
	for _, p := range paths.values {
		if !strings.HasPrefix(p, "/") {
			return usagef("%q: give the absolute path inside the image, e.g. /app/server", p)
		}
	}
	src := pos[0]
	in, rep, err := sf.load(src, stderr, "requirements")
	if err != nil {
		return err
	}

	rr := &requirements.Report{Origin: rep.Origin}
	var platforms []string
	for _, img := range rep.Images {
		platforms = append(platforms, img.Platform)
		if *platform != "" && img.Platform != *platform {
			continue
		}
		opts := requirements.Options{Paths: paths.values, ImageRef: *imageRef}
		cfg, hasConfig := in.ByDigest(img.Digest)
		switch {
		case fs.isSet("user"):
			opts.User, opts.UserKnown, opts.UserSource = *user, true, "--user"
		case hasConfig:
			opts.User, opts.UserKnown, opts.UserSource = cfg.Config.Config.User, true, "image config"
		}
		r, err := requirements.Compute(img, opts)
		if err != nil {
			return explain(err, nil)
		}
		for i, w := range r.Warnings {
			if h := warningHints[w.Kind]; h != "" {
				r.Warnings[i].Text += ": " + h
			}
		}
		rr.Images = append(rr.Images, r)
	}
	if len(rr.Images) == 0 {
		return fmt.Errorf("%s has no image for platform %s (platforms: %s)", src, *platform, strings.Join(platforms, ", "))
	}

	if !fs.isSet("output") {
		return writeRequirements(stdout, rr, *jsonOut, *only, src, platforms)
	}
	var buf bytes.Buffer
	if err := writeRequirements(&buf, rr, *jsonOut, *only, src, platforms); err != nil {
		return err
	}
	return atomicfile.WriteFile(*output, buf.Bytes())
}

// writeRequirements renders the report: JSON, one --only item, or text.
func writeRequirements(w io.Writer, rr *requirements.Report, jsonOut bool, only, src string, platforms []string) error {
	switch {
	case jsonOut:
		return rr.WriteJSON(w)
	case only != "":
		var lines []string
		seen := map[string]bool{}
		for _, r := range rr.Images {
			docker, _ := r.Runtime(requirements.Docker)
			podman, _ := r.Runtime(requirements.Podman)
			k8s, _ := r.Runtime(requirements.KubernetesContainerd)
			var s string
			var err error
			switch only {
			case "docker":
				s, err = quote.Command(docker.Command...)
			case "podman":
				s, err = quote.Command(podman.Command...)
			case "flags":
				s, err = quote.Command(docker.RunFlags...)
			case "kubernetes":
				s, err = k8s.SecurityContext.YAML(0)
			case "capabilities":
				s = strings.Join(r.Capabilities.DockerNames(), ",")
			}
			if err != nil {
				return err
			}
			if !strings.HasSuffix(s, "\n") {
				s += "\n"
			}
			if !seen[s] {
				seen[s] = true
				lines = append(lines, s)
			}
		}
		if len(lines) > 1 {
			return usagef("%s holds %d images that need different settings: choose one with --platform (platforms: %s)", src, len(rr.Images), strings.Join(platforms, ", "))
		}
		_, err := io.WriteString(w, lines[0])
		return err
	}
	return rr.WriteText(w)
}
