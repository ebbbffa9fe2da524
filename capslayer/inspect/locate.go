// This file finds files of an image's final filesystem, reading its layers
// from the top down and stopping at the lowest layer that decides them: what
// copy-up layers (capslayer layer --from-image) copy.

package inspect

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Location is what Locate found.
type Location struct {
	Files []tarfs.Located
	// Searched are the layers read, top first: Locate stops at the
	// lowest layer that decides every path.
	Searched []int
}

// maxRestarts bounds how often Locate starts again from the top layer
// because a symlink of a lower layer named a directory that upper layers
// mention under a name it had not kept.
const maxRestarts = 8

// Locate finds each path of paths in the final filesystem of img, as a
// runtime unpacks its layers: whiteouts and opaque directories applied,
// symlinks in parent directories followed inside the image root. It reads
// the layers from the top down, checking each against its digest and diff
// ID, keeps only the entries whose names can matter (bounded memory, nothing
// written anywhere) and stops at the lowest layer that decides every path:
// the layer holding the file, when the entries of that layer and the
// layers above it name its parent directories.
//
// A path that is missing, deleted by a whiteout, a directory, a symlink
// (the error names its target) or another non-regular file is an error
// wrapping ErrLocate.
func Locate(img v1.Image, paths []string, opts ...tarfs.Option) (_ *Location, err error) {
	defer errprefix.Add(&err, "inspect")
	return locate(img, paths, nil, tarfs.NewLimits(opts))
}

// LocateFunc is called by LocateStream for every entry of the layers it
// reads, in the order read: layer is the layer's index, entry the entry's
// index in it, name its clean path and data its bytes, which fn may read
// during the call. found is not nil when the entry is, as far as the layers
// read so far and the entries of this layer before it tell, the file at one
// of the paths: the layers above do not hide it and they and this layer's
// earlier entries name its parent directories. Only the Location returned
// at the end is certain: a later entry of the layer may still replace the
// file or one of its directories. An error of fn stops LocateStream with
// that error. After a restart (a lower layer's symlink named an entry not
// kept), the layers are read again from the top: layer grows again.
type LocateFunc func(layer, entry int, name string, hdr *tar.Header, data io.Reader, found *tarfs.Located) error

// LocateStream is Locate that lets fn see each entry as it is read, so
// that a caller can copy the file's bytes in the same pass that finds it.
func LocateStream(img v1.Image, paths []string, fn LocateFunc, opts ...tarfs.Option) (_ *Location, err error) {
	var fnErr error
	defer func() {
		if fnErr != nil && errors.Is(err, fnErr) {
			err = fnErr // the caller's, as it is
			return
		}
		errprefix.Add(&err, "inspect")
	}()
	return locate(img, paths, func(layer, entry int, name string, hdr *tar.Header, data io.Reader, found *tarfs.Located) error {
		fnErr = fn(layer, entry, name, hdr, data, found)
		return fnErr
	}, tarfs.NewLimits(opts))
}

func locate(img v1.Image, paths []string, fn LocateFunc, o *tarfs.Limits) (*Location, error) {
	if len(paths) == 0 {
		return nil, errors.New("no path to locate")
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" {
			return nil, fmt.Errorf("path %q is not absolute and clean: give the file's path in the image, e.g. /usr/bin/ping", p)
		}
	}
	layers, diffIDs, err := imageLayers(img, o)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, errors.New("the image has no layers")
	}
	l := tarfs.NewLocator(paths)
	for attempt := 0; ; attempt++ {
		loc, err := run(l, img, layers, diffIDs, paths, fn, o)
		if err != nil || loc != nil {
			return loc, err
		}
		if attempt == maxRestarts {
			return nil, fmt.Errorf("%w: symlinks of lower layers named directories of upper layers %d times; the image's symlinks chain too deep to locate %s", tarfs.ErrLimit, maxRestarts, strings.Join(paths, ", "))
		}
	}
}

// run reads the layers from the top down until every path is decided. It
// returns nil and no error when it must start again (l.Restart).
func run(l *tarfs.Locator, img v1.Image, layers []v1.Descriptor, diffIDs []v1.Hash, paths []string, fn LocateFunc, o *tarfs.Limits) (*Location, error) {
	digests := make([]string, len(layers))
	for i, d := range layers {
		digests[i] = d.Digest.String()
	}
	l.Start(digests)
	found := make([]*tarfs.Located, len(paths))
	loc := &Location{}
	for j := len(layers) - 1; j >= 0; j-- {
		entry := 0
		_, err := readLayer(img, j, layers[j], diffIDs[j], func(p string, hdr *tar.Header, data io.Reader) error {
			defer func() { entry++ }()
			kept, err := l.Keep(j, entry, p, hdr)
			if err != nil {
				return err
			}
			if fn == nil {
				return nil
			}
			var found *tarfs.Located
			if kept && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA || hdr.Typeflag == tar.TypeLink) {
				for _, q := range paths {
					if path.Base(q) != path.Base(p) {
						continue
					}
					// Errors here are provisional too: the end of the
					// layer decides.
					if f, err := l.Decide(j, q, loc.Searched); err == nil && f != nil && f.Layer == j && f.Entry == entry {
						found = f
						break
					}
				}
			}
			return fn(j, entry, p, hdr, data, found)
		}, o)
		if err != nil {
			return nil, err
		}
		loc.Searched = append(loc.Searched, j)
		if l.Restart() {
			return nil, nil
		}
		done := true
		for i, p := range paths {
			if found[i] != nil {
				continue
			}
			f, err := l.Decide(j, p, loc.Searched)
			if err != nil {
				return nil, err
			}
			found[i] = f
			done = done && f != nil
		}
		if done {
			break
		}
	}
	for _, f := range found {
		loc.Files = append(loc.Files, *f)
	}
	return loc, nil
}
