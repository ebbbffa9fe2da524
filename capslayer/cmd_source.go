package main

// The IMAGE argument of inspect, audit, requirements and admission-policy:
// its flags mapped to package source's options, and registry errors to the
// flags that fix them. Reading is package source's.

import (
	"fmt"
	"io"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/source"
)

// imageArgHelp is the help paragraph about IMAGE for the commands that read
// images.
const imageArgHelp = `IMAGE may also be a registry reference, HOST/REPO:TAG or
HOST/REPO@sha256:... (a manifest list gives one image per platform); an
argument that starts with /, ./ or ../, or that exists, is always a local
path. Credentials come from the docker config ($DOCKER_CONFIG/config.json
or ~/.docker/config.json, as 'docker login' writes it), TLS is required
(--ca-file adds a CA), --insecure allows plain HTTP to a registry on this
machine only.

The capabilities always come from the layers, local or in a registry:
every layer is streamed (never written to disk) and checked against its
digest, and the capability metadata an image carries (the
io.capslayer.capabilities label that capslayer image writes) is verified
against them: a mismatch is an error. --label-only takes them from the
label alone, without reading the layers: the results say
"label-unverified", and audit then never passes (exit 1, verdict
UNVERIFIED).`

// sourceFlags are the flags about where and how images are read.
type sourceFlags struct {
	insecure  *bool
	caFile    *string
	labelOnly *bool
	layers    *bool
	timeout   *time.Duration
	// deadline is the command's, set when the first image is read: the
	// images of one command share it.
	deadline time.Time
}

// addTimeoutFlag adds --timeout, the deadline of a command's registry
// requests.
func addTimeoutFlag(fs *cmdFlags) *time.Duration {
	d := registry.DefaultTimeout
	fs.Var((*timeoutFlag)(&d), "timeout", "`duration` within which every registry request of the command must end (e.g. 30s, 20m); a request also fails on its own when it makes no progress for 30s")
	return &d
}

// timeoutFlag is a positive time.Duration flag.
type timeoutFlag time.Duration

func (f *timeoutFlag) String() string { return time.Duration(*f).String() }

func (f *timeoutFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 30s or 20m, got %q", s)
	}
	*f = timeoutFlag(d)
	return nil
}

func addSourceFlags(fs *cmdFlags) *sourceFlags {
	return &sourceFlags{
		insecure:  fs.Bool("insecure", false, "allow plain HTTP to a registry on this machine (localhost, 127.0.0.0/8, ::1 only)"),
		caFile:    fs.inputFile("ca-file", "", "PEM `file` of CA certificates to trust for registries, besides the system's"),
		labelOnly: fs.Bool("label-only", false, "take the capabilities of an image that carries the io.capslayer.capabilities label from the label, without reading its layers: results are marked label-unverified and audit never passes"),
		layers:    fs.Bool("layers", false, "deprecated, the default: the layers are always read and the metadata verified (see --label-only)"),
		timeout:   addTimeoutFlag(fs),
	}
}

// registryOptions are the registry options of the flags; the first call
// starts the command's deadline.
func (sf *sourceFlags) registryOptions() registry.Options {
	if sf.deadline.IsZero() {
		sf.deadline = time.Now().Add(*sf.timeout)
	}
	return registry.Options{Insecure: *sf.insecure, CAFile: *sf.caFile, Timeout: *sf.timeout, Deadline: sf.deadline}
}

// options maps the flags to the reader's options.
func (sf *sourceFlags) options() source.Options {
	return source.Options{Registry: sf.registryOptions(), LabelOnly: *sf.labelOnly}
}

// load reads arg (a layer tar, a local image or a registry reference) with
// package source, whose semantics these flags select. An image whose files
// come from its label alone is named on stderr.
func (sf *sourceFlags) load(arg string, stderr io.Writer, cmd string) (*source.Input, *inspect.Report, error) {
	if *sf.labelOnly && *sf.layers {
		return nil, nil, usagef("--label-only and --layers contradict each other: the layers are read by default, drop --layers")
	}
	if !registry.IsReference(arg) && (*sf.insecure || *sf.caFile != "") {
		return nil, nil, usagef("--insecure and --ca-file are for registry references (HOST/REPO:TAG); %s is not one", arg)
	}
	in, rep, err := source.Read(arg, sf.options())
	if err != nil {
		return nil, nil, explain(err, nil)
	}
	for _, im := range rep.Images {
		if im.LabelOnly {
			fmt.Fprintf(stderr, "capslayer %s: %s (%s): capabilities from the image's %s label, layers not read: UNVERIFIED (drop --label-only to read and verify them)\n", cmd, printable.String(arg), printable.String(orDash(im.Platform)), imagemeta.LabelCapabilities)
		}
	}
	return in, rep, nil
}
