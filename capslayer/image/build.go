package image

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// defaultPlatform is the platform of an image without a base when none is
// given. It is fixed, not the host's, so that builds do not depend on the
// machine.
var defaultPlatform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Options describe the image to assemble. Nil slices and pointers keep the
// base image's value.
type Options struct {
	// Base is an OCI image layout directory or a docker save tarball; ""
	// builds from scratch.
	Base string
	// BaseRef picks one image of a base that holds several: a tag
	// (ref.name annotation or RepoTag, with or without the repository) or a
	// manifest digest.
	BaseRef string
	// Layers are layer files (plain, gzip or zstd tars), bottom first.
	Layers []string
	// FS, when set, is the file system Base and Layers are names in (as
	// fs.ValidPath names them; inspect.ImagesFS reads the base): the fuzz
	// target builds in an fstest.MapFS. Nil reads the host's files.
	FS fs.FS
	// Platform is os/arch[/variant]. With a multi-platform base it picks
	// the image; with a single-platform base it must match. "" means the
	// base's platform, or linux/amd64 without a base.
	Platform string
	// Entrypoint replaces the base's entrypoint and, as in a Dockerfile,
	// clears the base's Cmd unless Cmd is also set.
	Entrypoint []string
	Cmd        []string
	User       *string
	WorkingDir *string
	// Env holds KEY=VALUE entries; a KEY already set is replaced.
	Env []string
	// Labels are added to the base's.
	Labels map[string]string
	// ExposedPorts are "80", "80/tcp", "53/udp" or "9/sctp".
	ExposedPorts []string
	// Created is the config's created time (and that of the new history
	// entries); callers default it to SOURCE_DATE_EPOCH or the epoch.
	Created time.Time
	// NoEntrypointCheck skips checking that the entrypoint (or Cmd[0])
	// exists in the final filesystem as an executable file.
	NoEntrypointCheck bool
}

// Result is an assembled image.
type Result struct {
	Image v1.Image
	// Platform is the image's os/arch[/variant].
	Platform v1.Platform
	// Base is the base image used ("" for scratch): its name and digest.
	Base string
	// Executable is the resolved path of the entrypoint in the image, when
	// it was checked.
	Executable string
	// Files are the capability files of the image (all layers, base
	// included), as inspect reports them.
	Files []tarfs.File
	// Warnings are problems that do not stop the build, e.g. a capability
	// file hidden by a later layer.
	Warnings []string
}

// ParseCreated parses a --created value: seconds since the epoch or an
// RFC 3339 time.
func ParseCreated(s string) (_ time.Time, err error) {
	defer errprefix.Add(&err, "image")
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("created time %q: want seconds since the epoch (0) or RFC 3339 (1970-01-01T00:00:00Z)", s)
	}
	return t.UTC(), nil
}

// ParsePlatform parses os/arch[/variant].
func ParsePlatform(s string) (_ v1.Platform, err error) {
	defer errprefix.Add(&err, "image")
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" || p.OSVersion != "" || strings.Contains(s, " ") {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm/v7", s)
	}
	return *p, nil
}

// platformMatches reports whether have satisfies the wanted platform:
// os and arch equal, variant equal when wanted (arm64's default variant v8
// equals no variant).
func platformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	hv, wv := have.Variant, want.Variant
	if have.Architecture == "arm64" {
		if hv == "" {
			hv = "v8"
		}
		if wv == "" {
			wv = "v8"
		}
	}
	return wv == "" || hv == wv
}

// ociLayerType maps Docker layer media types to their OCI equivalents; the
// blob bytes are the same.
func ociLayerType(mt types.MediaType) types.MediaType {
	switch mt {
	case types.DockerLayer:
		return types.OCILayer
	case types.DockerUncompressedLayer:
		return types.OCIUncompressedLayer
	case types.DockerForeignLayer:
		return types.OCIRestrictedLayer
	}
	return mt
}

// Build assembles the image described by o. It reads every layer (base
// included) once, to check that it is a tar matching its digests and to
// replay the final filesystem for the entrypoint check.
func Build(o Options) (_ *Result, err error) {
	defer errprefix.Add(&err, "image")
	res := &Result{}
	var want *v1.Platform
	if o.Platform != "" {
		p, err := ParsePlatform(o.Platform)
		if err != nil {
			return nil, err
		}
		want = &p
	}
	cfg := &v1.ConfigFile{RootFS: v1.RootFS{Type: "layers"}}
	var baseLayers []v1.Layer
	var src inspect.Source
	if o.Base != "" {
		var err error
		if src, err = pickBase(o.FS, o.Base, o.BaseRef, want); err != nil {
			return nil, err
		}
		res.Base = src.Name + "@" + src.Digest
		bcfg, err := src.Image.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", o.Base, err)
		}
		cfg = bcfg.DeepCopy()
		if baseLayers, err = src.Image.Layers(); err != nil {
			return nil, fmt.Errorf("base %s: %w", o.Base, err)
		}
		res.Platform = v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	} else {
		p := defaultPlatform
		if want != nil {
			p = *want
		}
		cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
		res.Platform = p
	}
	// The config first: the entrypoint check needs it while the layers are
	// replayed.
	if err := applyConfig(cfg, o); err != nil {
		return nil, err
	}

	// The entrypoint check needs, of all the entries, only those that can
	// be the program: the model watches their base names. A candidate
	// that a symlink sends to another base name needs a second read.
	var argv0 string
	var candidates []string
	names := map[string]bool{}
	check := !o.NoEntrypointCheck && (o.Entrypoint != nil || o.Cmd != nil)
	if check {
		argv := append(append([]string{}, cfg.Config.Entrypoint...), cfg.Config.Cmd...)
		if len(argv) == 0 || argv[0] == "" {
			return nil, ErrEmptyEntrypoint
		}
		argv0 = argv[0]
		candidates = entrypointCandidates(argv0, cfg.Config.WorkingDir, cfg.Config.Env)
		for _, c := range candidates {
			names[path.Base(c)] = true
		}
	}
	var rp *replay
	for pass := 1; ; pass++ {
		var err error
		if rp, err = readLayers(o, baseLayers, names); err != nil {
			return nil, err
		}
		if !check {
			break
		}
		exe, more, err := findExecutable(rp.sc.Lookup, argv0, candidates, names)
		if err != nil {
			return nil, err
		}
		if len(more) == 0 {
			res.Executable = exe
			break
		}
		if pass == 2 {
			// The symlinks are the same in every read, so the second
			// read resolves the candidates to the same paths.
			return nil, fmt.Errorf("entrypoint %s: internal error: its paths resolve to new names %q on a second read", argv0, more)
		}
		for _, b := range more {
			names[b] = true
		}
	}

	var adds []mutate.Addendum
	if len(baseLayers) > 0 {
		hist := cfg.History
		nonEmpty := 0
		for _, h := range hist {
			if !h.EmptyLayer {
				nonEmpty++
			}
		}
		if nonEmpty != len(baseLayers) {
			// A base without (consistent) history: describe its layers
			// so that history and layers line up again.
			hist = nil
			for range baseLayers {
				hist = append(hist, v1.History{CreatedBy: "base layer (the base image had no history for it)"})
			}
		}
		li := 0
		for _, h := range hist {
			if h.EmptyLayer {
				adds = append(adds, mutate.Addendum{History: h})
				continue
			}
			l := baseLayers[li]
			mt, err := l.MediaType()
			if err != nil {
				return nil, err
			}
			adds = append(adds, mutate.Addendum{Layer: l, History: h, MediaType: ociLayerType(mt), Annotations: rp.annotations(li)})
			li++
		}
	}
	for i, l := range rp.added {
		idx := len(baseLayers) + i
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: o.Created},
			CreatedBy: "capslayer image --layer " + l.paths.String(),
			Comment:   describeCaps(rp.layers[idx].Files),
		}, Annotations: rp.annotations(idx)})
	}
	res.Files = rp.files()
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	cfg.Config.Labels[imagemeta.LabelCapabilities] = rp.label()
	res.Warnings = append(res.Warnings, rp.shadowWarnings(len(baseLayers))...)

	// The config's layer list and history are rebuilt by mutate.Append.
	cfg.RootFS = v1.RootFS{Type: "layers"}
	cfg.History = nil
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return nil, err
	}
	res.Image = img
	return res, nil
}

// pickBase finds the one base image that fits ref and the platform.
func pickBase(fsys fs.FS, base, ref string, want *v1.Platform) (inspect.Source, error) {
	var srcs []inspect.Source
	var err error
	if fsys != nil {
		_, srcs, err = inspect.ImagesFS(fsys, base)
	} else {
		_, srcs, err = inspect.Images(base)
	}
	if errors.Is(err, inspect.ErrNoImage) {
		srcs, err = nil, nil // the reader refuses it too; say it in image's words
	}
	if err != nil {
		return inspect.Source{}, fmt.Errorf("base %s: %w", base, err)
	}
	if len(srcs) == 0 {
		// An empty index, only artifacts, or index entries that hold no
		// manifest: there is no srcs[0] to pick.
		return inspect.Source{}, fmt.Errorf("base %s: %w: its index lists no image manifest", base, ErrNoBaseImage)
	}
	if ref != "" {
		var keep []inspect.Source
		for _, s := range srcs {
			if s.Name == ref || s.Digest == ref || strings.HasSuffix(s.Name, ":"+ref) || (!strings.Contains(ref, ":") && s.Name == ref+":latest") {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			return inspect.Source{}, fmt.Errorf("base %s: %w: no image %q; it has: %s", base, ErrBaseRefNotFound, ref, describeSources(srcs))
		}
		srcs = keep
	}
	if want != nil {
		var keep []inspect.Source
		for _, s := range srcs {
			if p, err := v1.ParsePlatform(s.Platform); err == nil && platformMatches(*p, *want) {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			return inspect.Source{}, fmt.Errorf("base %s: %w: no image for platform %s; it has: %s", base, ErrBasePlatformNotFound, want, describeSources(srcs))
		}
		srcs = keep
	}
	digests := map[string]bool{}
	for _, s := range srcs {
		digests[s.Digest] = true
	}
	if len(digests) > 1 {
		return inspect.Source{}, fmt.Errorf("base %s: %w: it holds %d images: %s", base, ErrBaseAmbiguous, len(digests), describeSources(srcs))
	}
	return srcs[0], nil
}

func describeSources(srcs []inspect.Source) string {
	var s []string
	for _, src := range srcs {
		s = append(s, fmt.Sprintf("%s (%s)", src.Name, orNone(src.Platform)))
	}
	return strings.Join(s, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "no platform"
	}
	return s
}

// replayBaseLayer reads a base layer as stored, checking its digest, and
// calls fn for each entry.
func replayBaseLayer(fn tarfs.WalkFunc, l v1.Layer) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	st, err := tarfs.Walk(rc, fn)
	if err != nil {
		return err
	}
	d, err := l.Digest()
	if err != nil {
		return err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return err
	}
	if st.Digest != d.String() || st.DiffID != diffID.String() {
		return fmt.Errorf("blob has digest %s and diff ID %s, but the base says %s and %s: the base is corrupt or was tampered with", st.Digest, st.DiffID, d, diffID)
	}
	return nil
}

func describeCaps(fs []tarfs.File) string {
	if len(fs) == 0 {
		return ""
	}
	var s []string
	for _, f := range fs {
		if f.Invalid != "" {
			s = append(s, f.Path+" (invalid security.capability)")
		} else {
			s = append(s, f.Path+" "+f.Xattr.String())
		}
	}
	return "file capabilities: " + strings.Join(s, ", ")
}

// applyConfig applies the options to the config.
func applyConfig(cfg *v1.ConfigFile, o Options) error {
	cfg.Created = v1.Time{Time: o.Created}
	cfg.Author = ""
	c := &cfg.Config
	if o.Entrypoint != nil {
		c.Entrypoint = o.Entrypoint
		c.Cmd = nil
	}
	if o.Cmd != nil {
		c.Cmd = o.Cmd
	}
	if o.User != nil {
		c.User = *o.User
	}
	if o.WorkingDir != nil {
		if *o.WorkingDir != "" && !strings.HasPrefix(*o.WorkingDir, "/") {
			return fmt.Errorf("workdir %q must be an absolute path", *o.WorkingDir)
		}
		c.WorkingDir = *o.WorkingDir
	}
	for _, e := range o.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("env %q: want KEY=VALUE", e)
		}
		replaced := false
		for i, old := range c.Env {
			if strings.HasPrefix(old, k+"=") {
				c.Env[i], replaced = e, true
			}
		}
		if !replaced {
			c.Env = append(c.Env, e)
		}
	}
	if len(o.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range o.Labels {
			if k == "" {
				return fmt.Errorf("label with an empty key")
			}
			if k == imagemeta.LabelCapabilities {
				return fmt.Errorf("label %s: %w", k, ErrReservedLabel)
			}
			c.Labels[k] = v
		}
	}
	for _, p := range o.ExposedPorts {
		port, proto, ok := strings.Cut(p, "/")
		if !ok {
			proto = "tcp"
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
			return fmt.Errorf("exposed port %q: want PORT[/tcp|udp|sctp] with PORT from 1 to 65535", p)
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[fmt.Sprintf("%d/%s", n, proto)] = struct{}{}
	}
	return nil
}
