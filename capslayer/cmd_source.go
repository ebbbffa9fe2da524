package main

// Reading the IMAGE argument of inspect, audit, requirements and
// admission-policy: a local path (inspect reads it) or a registry reference
// (package registry), with the capability metadata of the image used and
// verified (package imagemeta).

import (
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
)

// imageArgHelp is the help paragraph about IMAGE for the commands that read
// images.
const imageArgHelp = `IMAGE may also be a registry reference, HOST/REPO:TAG or
HOST/REPO@sha256:... (a manifest list gives one image per platform):
credentials come from the docker config ($DOCKER_CONFIG/config.json or
~/.docker/config.json, as 'docker login' writes it), TLS is required
(--ca-file adds a CA), --insecure allows plain HTTP to a registry on this
machine only. An image with capability metadata (the io.capslayer.capabilities
label that capslayer image writes) is read from its manifest and config
alone; --layers streams its layers too and verifies the metadata. Layers
are streamed, never written to disk. For local images the layers are always
read and the metadata, when present, verified against them: a mismatch is
an error.`

// maxConfigSize bounds an image config, which is held in memory; configs
// are a few kilobytes.
const maxConfigSize = 4 << 20

// sourceFlags are the flags about where and how images are read.
type sourceFlags struct {
	insecure *bool
	caFile   *string
	layers   *bool
	timeout  *time.Duration
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
		insecure: fs.Bool("insecure", false, "allow plain HTTP to a registry on this machine (localhost, 127.0.0.0/8, ::1 only)"),
		caFile:   fs.String("ca-file", "", "PEM `file` of CA certificates to trust for registries, besides the system's"),
		layers:   fs.Bool("layers", false, "for a registry image with capability metadata, also stream its layers and verify the metadata against them"),
		timeout:  addTimeoutFlag(fs),
	}
}

func (sf *sourceFlags) options() registry.Options {
	if sf.deadline.IsZero() {
		sf.deadline = time.Now().Add(*sf.timeout)
	}
	return registry.Options{Insecure: *sf.insecure, CAFile: *sf.caFile, Timeout: *sf.timeout, Deadline: sf.deadline}
}

// registryHints says, for each typed error of package registry, what fixes
// it with capslayer's flags.
var registryHints = []struct {
	err  error
	hint string
}{
	// A deadline or a stall is the cause even when go-containerregistry
	// then tried plain HTTP (and was refused); a stall has no flag.
	{registry.ErrTimeout, "a slow registry needs a longer --timeout"},
	{registry.ErrStalled, ""},
	{registry.ErrInsecure, "--insecure is only for a registry on this machine; for a remote registry whose CA the system does not trust, give the CA with --ca-file FILE"},
	{registry.ErrUnknownAuthority, "give its CA with --ca-file FILE (or SSL_CERT_FILE)"},
	{registry.ErrPlainHTTP, "for a plain-HTTP registry on this machine, add --insecure"},
	{registry.ErrCAFile, "check --ca-file"},
}

// registryError adds to an error of package registry what fixes it, in
// capslayer's flags.
func registryError(err error) error {
	for _, h := range registryHints {
		if errors.Is(err, h.err) {
			if h.hint == "" {
				return err
			}
			return fmt.Errorf("%w; %s", err, h.hint)
		}
	}
	return err
}

// loaded is an image input read by load.
type loaded struct {
	report *inspect.Report
	// configs are the image configs, by image digest (none for a layer).
	configs map[string]*v1.ConfigFile
	// sources are the images as go-containerregistry reads them.
	sources []inspect.Source
	// fromMetadata lists the digests of the images whose files come from
	// their metadata alone (layers not read).
	fromMetadata map[string]bool
}

// load reads arg: a layer tar, a local image or a registry reference. The
// capability metadata of every image read is verified against its layers;
// a registry image with metadata is read from it alone unless --layers.
func (sf *sourceFlags) load(arg string, stderr io.Writer, cmd string) (*loaded, error) {
	out := &loaded{configs: map[string]*v1.ConfigFile{}, fromMetadata: map[string]bool{}}
	if !registry.IsReference(arg) {
		if *sf.insecure || *sf.caFile != "" {
			return nil, usagef("--insecure and --ca-file are for registry references (HOST/REPO:TAG); %s is not one", arg)
		}
		rep, err := inspect.Path(arg)
		if err != nil {
			return nil, err
		}
		out.report = rep
		if rep.Kind == inspect.KindLayer {
			return out, nil
		}
		if _, out.sources, err = inspect.Images(arg); err != nil {
			return nil, err
		}
		scanned := map[string]inspect.Image{}
		for _, im := range rep.Images {
			scanned[im.Digest] = im
		}
		for _, src := range out.sources {
			if err := out.config(arg, src); err != nil {
				return nil, err
			}
			md, err := imagemeta.Read(src.Image)
			if err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", arg, src.Name, err)
			}
			if md.Present() {
				if err := imagemeta.Verify(md, scanned[src.Digest]); err != nil {
					return nil, fmt.Errorf("%s: image %s: %w", arg, src.Name, err)
				}
			}
		}
		return out, nil
	}

	srcs, skipped, err := registry.Images(arg, sf.options())
	if err != nil {
		return nil, registryError(err)
	}
	out.sources = srcs
	out.report = &inspect.Report{Origin: inspect.Origin{Source: arg, Kind: registry.KindRegistry}, Skipped: skipped}
	for _, src := range srcs {
		if err := out.config(arg, src); err != nil {
			return nil, err
		}
		md, err := imagemeta.Read(src.Image)
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", arg, src.Digest, err)
		}
		var im inspect.Image
		if md.Label != nil && !*sf.layers {
			if im, err = imagemeta.Image(src, md); err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", arg, src.Digest, err)
			}
			out.fromMetadata[src.Digest] = true
			fmt.Fprintf(stderr, "capslayer %s: %s (%s): capabilities from the image's %s label; layers not read (--layers reads and verifies them)\n", cmd, arg, orDash(src.Platform), imagemeta.LabelCapabilities)
		} else {
			if im, err = inspect.Scan(src); err != nil {
				return nil, fmt.Errorf("%s: image %s: %w", arg, src.Digest, err)
			}
			if md.Present() {
				if err := imagemeta.Verify(md, im); err != nil {
					return nil, fmt.Errorf("%s: image %s: %w", arg, src.Digest, err)
				}
			}
		}
		out.report.Images = append(out.report.Images, im)
	}
	return out, nil
}

// config reads the config of src, bounded.
func (l *loaded) config(arg string, src inspect.Source) error {
	if _, ok := l.configs[src.Digest]; ok {
		return nil
	}
	if m, err := src.Image.Manifest(); err == nil && m.Config.Size > maxConfigSize {
		return fmt.Errorf("%s: image %s: config is %d bytes, more than %d", arg, src.Name, m.Config.Size, maxConfigSize)
	}
	cf, err := src.Image.ConfigFile()
	if err != nil {
		return fmt.Errorf("%s: image %s: reading the config: %w", arg, src.Name, err)
	}
	l.configs[src.Digest] = cf
	return nil
}
