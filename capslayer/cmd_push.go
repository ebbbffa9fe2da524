package main

import (
	"fmt"
	"io"

	"github.com/capslayer/rules_capslayer/capslayer/registry"
)

const pushHelp = `Pushes the image of an OCI image layout directory (what caps_image and
'capslayer image' write) to a registry, byte for byte: the digest in the
registry is the layout's, so the capabilities of its files, and its
io.capslayer.capabilities metadata, arrive unchanged. A layout whose
index.json lists one image index pushes the index and its images.

--repository is HOST/REPO, HOST/REPO:TAG or HOST/REPO@sha256:... (a
digest must be the layout's). Credentials come from the docker config
($DOCKER_CONFIG/config.json or ~/.docker/config.json, as 'docker login'
writes it); TLS is required (--ca-file adds a CA), --insecure allows plain
HTTP to a registry on this machine only. Prints the pushed reference,
pinned by digest.

Examples:
  capslayer push --repository registry.example.com/app:v1 bazel-bin/app/image
  bazel run //app:image_push -- --repository registry.example.com/app:v1`

// runPush implements "capslayer push".
func runPush(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("push", "--repository HOST/REPO[:TAG] [flags] LAYOUT", pushHelp, stderr)
	repo := fs.String("repository", "", "where to push: `HOST/REPO[:TAG]` or HOST/REPO@sha256:...")
	insecure := fs.Bool("insecure", false, "allow plain HTTP to a registry on this machine (localhost, 127.0.0.0/8, ::1 only)")
	caFile := fs.inputFile("ca-file", "", "PEM `file` of CA certificates to trust for the registry, besides the system's")
	timeout := addTimeoutFlag(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("push takes one LAYOUT (an OCI image layout directory), got %d arguments (see 'capslayer push --help')", fs.NArg())
	}
	if *repo == "" {
		return usagef("give the destination with --repository HOST/REPO[:TAG], e.g. --repository registry.example.com/app:v1")
	}
	p, err := registry.Push(fs.Arg(0), *repo, registry.Options{Insecure: *insecure, CAFile: *caFile, Timeout: *timeout})
	if err != nil {
		return explain(err, nil)
	}
	_, err = fmt.Fprintln(stdout, p.Reference)
	return err
}
