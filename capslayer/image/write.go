package image

import (
	"errors"
	"fmt"
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
	defer errprefix.Add(&err, "image")
	return writeLayoutDir(dir, func(lp layout.Path) error {
		opts := []layout.Option{layout.WithAnnotations(refAnnotations(tag))}
		if plat != nil {
			opts = append(opts, layout.WithPlatform(*plat))
		}
		return lp.AppendImage(img, opts...)
	})
}

// WriteIndexLayout writes an image index as an OCI image layout, like
// WriteLayout.
func WriteIndexLayout(dir string, idx v1.ImageIndex, tag *name.Tag) (err error) {
	defer errprefix.Add(&err, "image")
	return writeLayoutDir(dir, func(lp layout.Path) error {
		return lp.AppendIndex(idx, layout.WithAnnotations(refAnnotations(tag)))
	})
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

func writeLayoutDir(dir string, fill func(layout.Path) error) error {
	dir = filepath.Clean(dir)
	if _, err := checkReplaceable(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	out, err := atomicfile.CreateDir(dir)
	if err != nil {
		return err
	}
	defer out.Discard()
	lp, err := layout.Write(out.Path, empty.Index)
	if err != nil {
		return fmt.Errorf("writing layout: %w", err)
	}
	if err := fill(lp); err != nil {
		return fmt.Errorf("writing layout: %w", err)
	}
	return out.Commit()
}

// WriteTarball writes img as a docker-archive tarball (manifest.json, config,
// layers), loadable with `docker load` and `podman load`, through a
// temporary file renamed into place.
func WriteTarball(path string, img v1.Image, tag name.Tag) (err error) {
	defer errprefix.Add(&err, "image")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Discard()
	if err := tarball.Write(tag, img, f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
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
