package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ParseTag parses NAME[:TAG] (TAG defaults to latest), e.g.
// "example.com/app:v1" or "app".
func ParseTag(s string) (_ name.Tag, err error) {
	defer errprefix.Add(&err, "image")
	t, err := name.NewTag(s)
	if err != nil {
		return name.Tag{}, fmt.Errorf("tag %q: %v; want NAME:TAG such as example.com/app:v1", s, err)
	}
	if !strings.HasSuffix(s, ":"+t.TagStr()) {
		// Spell the tag out so that docker-archive RepoTags carry it.
		t, err = name.NewTag(s + ":" + t.TagStr())
		if err != nil {
			return name.Tag{}, err
		}
	}
	return t, nil
}

// refAnnotations names the image in index.json: org.opencontainers.image.ref.name
// holds the tag alone (what `umoci unpack --image DIR:TAG` and skopeo's
// oci:DIR:TAG look up) and io.containerd.image.name the full name when one
// was given.
func refAnnotations(tag *name.Tag) map[string]string {
	if tag == nil {
		return map[string]string{inspect.AnnotationRefName: "latest"}
	}
	return map[string]string{
		inspect.AnnotationRefName:       tag.TagStr(),
		inspect.AnnotationContainerName: tag.String(),
	}
}

// WriteLayout writes img as an OCI image layout at dir, named by tag ("latest"
// if nil) and platform in index.json. The layout is written to a temporary
// directory beside dir and renamed into place, so dir holds either the old
// or the new layout, never a partial one. An existing dir is replaced only
// if it is empty or an OCI image layout (holds just oci-layout, index.json,
// blobs); anything else is refused, so a mistyped --output cannot delete
// unrelated files.
func WriteLayout(dir string, img v1.Image, tag *name.Tag, plat *v1.Platform) (err error) {
	return Write(img, Outputs{Layout: dir, Tag: tag, Platform: plat})
}

// WriteIndexLayout writes an image index as an OCI image layout, like
// WriteLayout.
func WriteIndexLayout(dir string, idx v1.ImageIndex, tag *name.Tag) (err error) {
	return WriteIndex(idx, Outputs{Layout: dir, Tag: tag})
}

// layoutEntries are the names an OCI image layout may hold at its top.
var layoutEntries = map[string]bool{"oci-layout": true, "index.json": true, "blobs": true}

// checkReplaceable refuses to replace dir unless it is missing, empty or an
// OCI image layout.
func checkReplaceable(dir string) (exists bool, err error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return true, fmt.Errorf("%w: %s exists and is not a directory; remove it or choose another output directory", ErrOutputNotReplaceable, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return true, err
	}
	if len(ents) == 0 {
		return true, nil
	}
	hasLayout := false
	for _, e := range ents {
		if !layoutEntries[e.Name()] {
			return true, fmt.Errorf("%w: %s is not empty and not an OCI image layout (it holds %q); remove it or choose another output directory", ErrOutputNotReplaceable, dir, e.Name())
		}
		hasLayout = hasLayout || e.Name() == "oci-layout"
	}
	if !hasLayout {
		return true, fmt.Errorf("%w: %s is not empty and has no oci-layout file; remove it or choose another output directory", ErrOutputNotReplaceable, dir)
	}
	return true, nil
}

// createLayoutDir writes a layout into the temporary directory of dir,
// not yet committed.
func createLayoutDir(dir string, fill func(layout.Path) error) (_ *atomicfile.Dir, err error) {
	dir = filepath.Clean(dir)
	if _, err := checkReplaceable(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	out, err := atomicfile.CreateDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			out.Discard()
		}
	}()
	lp, err := layout.Write(out.Path, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("writing layout: %w", err)
	}
	if err := fill(lp); err != nil {
		return nil, fmt.Errorf("writing layout: %w", err)
	}
	return out, nil
}

// WriteTarball writes img as a docker-archive tarball (manifest.json, config,
// layers), loadable with `docker load` and `podman load`, through a
// temporary file renamed into place.
func WriteTarball(path string, img v1.Image, tag name.Tag) (err error) {
	defer errprefix.Add(&err, "image")
	f, err := createTarball(path, img, tag)
	if err != nil {
		return err
	}
	return f.Commit()
}

// createTarball writes the tarball into the temporary file of path, not
// yet committed.
func createTarball(path string, img v1.Image, tag name.Tag) (_ *atomicfile.File, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	if err := tarball.Write(tag, img, f); err != nil {
		f.Discard()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return f, nil
}

// Outputs are where Write puts an image, and what it names it.
type Outputs struct {
	// Layout is the OCI image layout directory to write (required). An
	// existing one is replaced only if it is empty or a layout.
	Layout string
	// Tarball, if set, is the docker-archive tarball to write (needs Tag).
	Tarball string
	// DigestFile, if set, gets the manifest (or index) digest,
	// "sha256:<hex>\n".
	DigestFile string
	// Tag names the image: the layout's ref.name annotations and the
	// tarball's repo tag ("latest" in the layout when nil).
	Tag *name.Tag
	// Platform is recorded in the layout's index.json (images only).
	Platform *v1.Platform
}

// Write writes img to every output of o, all committed together or not at
// all: until each is completely written nothing is replaced, so a failure
// (a full disk) leaves the old layout, tarball and digest file as they
// were, and at no instant does an old tarball or digest file sit beside
// the new layout (package atomicfile's Commit).
func Write(img v1.Image, o Outputs) (err error) {
	defer errprefix.Add(&err, "image")
	if o.Tarball != "" && o.Tag == nil {
		return errors.New("a tarball needs a tag: docker load and podman load name the image after it")
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	return writeAll(o, d, func(lp layout.Path) error {
		opts := []layout.Option{layout.WithAnnotations(refAnnotations(o.Tag))}
		if o.Platform != nil {
			opts = append(opts, layout.WithPlatform(*o.Platform))
		}
		return lp.AppendImage(img, opts...)
	}, func(path string) (*atomicfile.File, error) {
		return createTarball(path, img, *o.Tag)
	})
}

// WriteIndex writes an image index as a layout (and digest file), as
// Write does; o.Tarball and o.Platform must be unset.
func WriteIndex(idx v1.ImageIndex, o Outputs) (err error) {
	defer errprefix.Add(&err, "image")
	if o.Tarball != "" || o.Platform != nil {
		return errors.New("an index has no tarball and no single platform")
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	return writeAll(o, d, func(lp layout.Path) error {
		return lp.AppendIndex(idx, layout.WithAnnotations(refAnnotations(o.Tag)))
	}, nil)
}

// writeAll writes the layout, the tarball (when asked, by tarball) and the
// digest file into temporaries, then commits them together.
func writeAll(o Outputs, d v1.Hash, fill func(layout.Path) error, tarball func(string) (*atomicfile.File, error)) error {
	dir, err := createLayoutDir(o.Layout, fill)
	if err != nil {
		return err
	}
	outs := []atomicfile.Output{dir}
	defer func() {
		for _, out := range outs {
			out.Discard()
		}
	}()
	if o.Tarball != "" {
		f, err := tarball(o.Tarball)
		if err != nil {
			return err
		}
		outs = append(outs, f)
	}
	if o.DigestFile != "" {
		f, err := atomicfile.Create(o.DigestFile)
		if err != nil {
			return err
		}
		outs = append(outs, f)
		if _, err := io.WriteString(f, d.String()+"\n"); err != nil {
			return fmt.Errorf("write %s: %w", o.DigestFile, err)
		}
	}
	return atomicfile.Commit(outs...)
}

// Index builds a multi-platform image index from images, each given with
// its platform. Platforms must differ.
func Index(imgs []v1.Image) (_ v1.ImageIndex, err error) {
	defer errprefix.Add(&err, "image")
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]int{}
	var adds []mutate.IndexAddendum
	for i, img := range imgs {
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		if cfg.OS == "" || cfg.Architecture == "" {
			return nil, fmt.Errorf("image %d has no os/architecture in its config", i+1)
		}
		p := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
		if j, dup := seen[p.String()]; dup {
			return nil, fmt.Errorf("images %d and %d are both for %s; an index holds one image per platform", j+1, i+1, p)
		}
		seen[p.String()] = i
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		if mt != types.OCIManifestSchema1 {
			return nil, fmt.Errorf("image %d is a %s, not an OCI image manifest", i+1, mt)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(idx, adds...), nil
}
