package layer

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// ErrHasCapability reports a file of the base image that already carries
// capabilities, which CopyUp replaces only with WithReplaceCapabilities.
var ErrHasCapability = errors.New("the file already has capabilities")

// WithReplaceCapabilities lets CopyUp replace the capabilities a file of
// the base image already has (the replaced value is in Result.Warnings).
// By default such a file is an error wrapping ErrHasCapability.
func WithReplaceCapabilities(replace bool) Option {
	return func(o *options) error {
		o.replaceCaps = replace
		return nil
	}
}

// WithReadLimits sets the limits of reading the base image in CopyUp
// (inspect's defaults otherwise).
func WithReadLimits(opts ...tarfs.Option) Option {
	return func(o *options) error {
		o.readLimits = opts
		return nil
	}
}

// CopyUp writes to w a copy-up layer: for each set, the regular file at
// set.Path in the final filesystem of img (found by inspect.Locate: whiteouts
// and opaque directories applied, symlinked parent directories followed)
// with the capabilities of set, and its parent directories, each with the
// metadata the image gives it, and nothing else. Applied on top of img, the
// layer gives the file capabilities as `RUN setcap` in a Dockerfile would.
//
// The file keeps its bytes, mode, owner, mtime and other xattrs; it is
// stored at its resolved path (a parent that is a symlink in the image is
// not written as a directory). The layers of img are read as stored,
// checked against their digests, from the top down to the one holding the
// file, and nothing is extracted. A hard-linked file is copied alone: its
// other names keep the old inode and its capabilities, which
// Result.Warnings lists.
//
// The same checks as Write apply: a setuid, setgid or world-writable file
// needs WithAllowUnsafeMode, a script WithAllowScripts; a file that already
// has capabilities needs WithReplaceCapabilities. WithMode, WithOwner and
// WithModTime do not apply. w may hold a partial layer after an error;
// CopyUpFile writes nothing then.
func CopyUp(w io.Writer, img v1.Image, sets []SetCap, opts ...Option) (_ *Result, err error) {
	defer errprefix.Add(&err, "layer")
	o, err := rewriteOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.descriptorPath != "" {
		return nil, errors.New("WithDescriptorFile only applies to CopyUpFile, not CopyUp")
	}
	plan, err := planCopyUp(img, sets, o)
	if err != nil {
		return nil, err
	}
	return plan.write(w)
}

// CopyUpFile is CopyUp to the file out, atomically as WriteFile: on any
// error, out (and the descriptor) are left as they were.
func CopyUpFile(out string, img v1.Image, sets []SetCap, opts ...Option) (_ *Result, err error) {
	defer errprefix.Add(&err, "layer")
	o, err := rewriteOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkOutputs(out, o); err != nil {
		return nil, err
	}
	if len(sets) == 1 {
		byPath, err := checkSets(sets)
		if err != nil {
			return nil, err
		}
		res, err := writeAtomic(out, o, func(w io.Writer) (*Result, error) {
			return copyUpStream(w, img, sets[0].Path, byPath[sets[0].Path], o)
		})
		if !errors.Is(err, errSpeculation) {
			return res, err
		}
	}
	plan, err := planCopyUp(img, sets, o)
	if err != nil {
		return nil, err
	}
	return writeAtomic(out, o, plan.write)
}

// errSpeculation says that copyUpStream could not copy the file in the
// pass that located it: the layer holding it is read a second time.
var errSpeculation = errors.New("the file was not copied while it was located")

// copyUpStream is the copy-up layer of one file written in the one pass
// over the layers that locates it: the file's bytes are copied when
// inspect.LocateStream first finds them, and kept if the end of the layer
// confirms it. Otherwise, or when the file needs a check to fail (its mode,
// its capabilities, a script) or is a hard link, it returns errSpeculation
// and the caller writes the layer from planCopyUp, which reports the
// problem.
func copyUpStream(w io.Writer, img v1.Image, p string, s *capability, o *options) (*Result, error) {
	out, err := newBlobWriter(w, o.compression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(out.diffID, out.next))
	c := &copyUp{img: img, o: o}
	var (
		spec    *tarfs.Located
		info    FileInfo
		warn    string
		links   []string
		invalid bool // the layers were read again from the top after the copy
		last    = -1
	)
	loc, err := inspect.LocateStream(img, []string{p}, func(layer, entry int, name string, hdr *tar.Header, data io.Reader, found *tarfs.Located) error {
		if last >= 0 && layer > last {
			invalid = true
		}
		last = layer
		if spec != nil {
			if layer == spec.Layer && hdr.Typeflag == tar.TypeLink && path.Clean("/"+hdr.Linkname) == spec.DataPath {
				links = append(links, name)
			}
			return nil
		}
		if found == nil || hdr.Typeflag == tar.TypeLink {
			return nil
		}
		if _, err := checkExisting(found.Path, hdr, s, o); err != nil {
			return nil
		}
		br := bufio.NewReaderSize(data, 512)
		if head, _ := br.Peek(2); string(head) == "#!" && !o.allowScripts {
			return nil
		}
		for _, d := range found.Dirs {
			h := *d
			h.Format = tar.FormatPAX
			if err := tw.WriteHeader(&h); err != nil {
				return fmt.Errorf("write directory entry %q: %w", h.Name, err)
			}
		}
		var err error
		if info, warn, err = c.writeFile(tw, found, s, hdr, br); err != nil {
			return err
		}
		spec = found
		return nil
	}, o.readLimits...)
	if err != nil {
		return nil, err
	}
	f := &loc.Files[0]
	if spec == nil || invalid || f.Layer != spec.Layer || f.Entry != spec.Entry || f.Resolved != spec.Resolved || !sameDirs(f.Dirs, spec.Dirs) {
		return nil, errSpeculation
	}
	if len(links) > 0 {
		w := hardLinkWarning(f, links)
		if warn != "" {
			w = warn + "; " + w
		}
		warn = w
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finish tar: %w", err)
	}
	d, err := out.finish([]FileInfo{info})
	if err != nil {
		return nil, err
	}
	res := &Result{Descriptor: d}
	if warn != "" {
		res.Warnings = []string{warn}
	}
	return res, nil
}

// sameDirs reports whether two lists of directory headers are the same.
func sameDirs(a, b []*tar.Header) bool {
	return slices.EqualFunc(a, b, func(x, y *tar.Header) bool {
		return x.Name == y.Name && x.Mode == y.Mode && x.Uid == y.Uid && x.Gid == y.Gid && x.ModTime.Equal(y.ModTime)
	})
}

// hardLinkWarning says which other names of f keep the original file.
func hardLinkWarning(f *tarfs.Located, links []string) string {
	slices.Sort(links)
	return fmt.Sprintf("%s is hard-linked in layer %d of the image as %s: the copy gets the capabilities, those names keep the original file and its capabilities", printable.String(f.Resolved), f.Layer, printable.String(strings.Join(slices.Compact(links), ", ")))
}

// copyUp is a planned copy-up layer.
type copyUp struct {
	img      v1.Image
	o        *options
	entries  []copyEntry // in archive order
	warnings []string
}

type copyEntry struct {
	dir  *tar.Header    // a directory, or
	file *tarfs.Located // a file, with
	set  *capability
}

func (e copyEntry) name() string {
	if e.dir != nil {
		return strings.TrimSuffix(e.dir.Name, "/")
	}
	return e.file.Resolved[1:]
}

func planCopyUp(img v1.Image, sets []SetCap, o *options) (*copyUp, error) {
	byPath, err := checkSets(sets)
	if err != nil {
		return nil, err
	}
	var paths []string
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	loc, err := inspect.Locate(img, paths, o.readLimits...)
	if err != nil {
		return nil, err
	}
	c := &copyUp{img: img, o: o}
	dirs := map[string]bool{}
	files := map[string]string{}
	for i := range loc.Files {
		f := &loc.Files[i]
		if other, dup := files[f.Resolved]; dup {
			return nil, &RewriteError{Path: f.Path, Problem: fmt.Sprintf("is the same file as %s in the image (%s): name it once", other, printable.String(f.Resolved))}
		}
		files[f.Resolved] = f.Path
		if f.Header.Typeflag != tar.TypeLink {
			if _, err := checkExisting(f.Path, f.Header, byPath[f.Path], o); err != nil {
				return nil, err
			}
		}
		for _, d := range f.Dirs {
			if !dirs[d.Name] {
				dirs[d.Name] = true
				c.entries = append(c.entries, copyEntry{dir: d})
			}
		}
		c.entries = append(c.entries, copyEntry{file: f, set: byPath[f.Path]})
	}
	slices.SortFunc(c.entries, func(a, b copyEntry) int {
		return slices.Compare(strings.Split(a.name(), "/"), strings.Split(b.name(), "/"))
	})
	return c, nil
}

func (c *copyUp) write(w io.Writer) (*Result, error) {
	out, err := newBlobWriter(w, c.o.compression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(out.diffID, out.next))
	var infos []FileInfo
	warnings := slices.Clone(c.warnings)
	for _, e := range c.entries {
		if e.dir != nil {
			h := *e.dir
			h.Format = tar.FormatPAX
			if err := tw.WriteHeader(&h); err != nil {
				return nil, fmt.Errorf("write directory entry %q: %w", h.Name, err)
			}
			continue
		}
		info, warn, err := c.copyFile(tw, e.file, e.set)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
		infos = append(infos, info)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finish tar: %w", err)
	}
	d, err := out.finish(infos)
	if err != nil {
		return nil, err
	}
	return &Result{Descriptor: d, Warnings: warnings}, nil
}

// copyFile reads the layer holding f and writes its entry, with the
// capabilities of s, to tw.
func (c *copyUp) copyFile(tw *tar.Writer, f *tarfs.Located, s *capability) (FileInfo, string, error) {
	var (
		info   FileInfo
		warn   string
		copied bool
		entry  int
		links  []string // the other names of the file
	)
	if f.Header.Typeflag == tar.TypeLink {
		links = append(links, f.DataPath)
	}
	_, err := inspect.ReadLayer(c.img, f.Layer, func(name string, hdr *tar.Header, data io.Reader) error {
		i := entry
		entry++
		isLink := f.Header.Typeflag == tar.TypeLink
		if hdr.Typeflag == tar.TypeLink && i != f.Entry && path.Clean("/"+hdr.Linkname) == f.DataPath {
			links = append(links, name)
		}
		switch {
		case i > f.Entry:
			return nil
		case isLink && i == f.Entry:
			if !copied {
				return fmt.Errorf("%s: is a hard link to %s, which is not a regular file before it in layer %d: name the target", f.Path, f.DataPath, f.Layer)
			}
			return nil
		case isLink && name != f.DataPath, !isLink && i < f.Entry:
			return nil
		case copied:
			return fmt.Errorf("%s: is a hard link to %s, which layer %d holds twice before the link: fix the layer", f.Path, f.DataPath, f.Layer)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			return fmt.Errorf("%s: %s in layer %d is a %s, not a regular file", f.Path, name, f.Layer, entryKind(hdr))
		}
		if err := checkNamedEntry(name, hdr); err != nil {
			return err
		}
		if f.Header.Typeflag == tar.TypeLink {
			if _, err := checkExisting(f.Path, hdr, s, c.o); err != nil {
				return err
			}
		}
		var err error
		info, warn, err = c.writeFile(tw, f, s, hdr, data)
		copied = err == nil
		return err
	}, c.o.readLimits...)
	if err != nil {
		return FileInfo{}, "", err
	}
	if !copied {
		return FileInfo{}, "", fmt.Errorf("%s: layer %d has no regular file %s to copy: the layer changed since it was located", f.Path, f.Layer, f.DataPath)
	}
	if len(links) > 0 {
		w := hardLinkWarning(f, links)
		if warn != "" {
			w = warn + "; " + w
		}
		warn = w
	}
	return info, warn, nil
}

// writeFile writes the file at f.Resolved with hdr's metadata, the
// capabilities of s and the bytes of data.
func (c *copyUp) writeFile(tw *tar.Writer, f *tarfs.Located, s *capability, hdr *tar.Header, data io.Reader) (FileInfo, string, error) {
	h := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     f.Resolved[1:],
		Size:     hdr.Size,
		Mode:     hdr.Mode & 0o7777,
		Uid:      hdr.Uid,
		Gid:      hdr.Gid,
		ModTime:  hdr.ModTime,
		Format:   tar.FormatPAX,
		PAXRecords: map[string]string{
			caps.PAXRecordKey: string(s.raw),
		},
	}
	// Other extended attributes stay; the old capability goes.
	for k, v := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") && k != caps.PAXRecordKey {
			h.PAXRecords[k] = v
		}
	}
	warn, err := checkExisting(f.Path, hdr, s, c.o)
	if err != nil {
		return FileInfo{}, "", err
	}
	br := bufio.NewReaderSize(data, 512)
	if head, _ := br.Peek(2); string(head) == "#!" {
		if !c.o.allowScripts {
			return FileInfo{}, "", fmt.Errorf("%s: the file in the image is a script (it starts with \"#!\"): the kernel runs its interpreter, not the script, so give the capabilities to a compiled binary (or to the interpreter) instead (%w)", f.Path, ErrScript)
		}
		w := fmt.Sprintf("%s starts with \"#!\": the kernel ignores file capabilities on scripts, so it will run without them", f.Path)
		if warn != "" {
			warn += "; " + w
		} else {
			warn = w
		}
	}
	if err := tw.WriteHeader(h); err != nil {
		return FileInfo{}, "", fmt.Errorf("%s: write entry: %w", f.Path, err)
	}
	if n, err := io.Copy(tw, br); err != nil {
		return FileInfo{}, "", fmt.Errorf("%s: copy from layer %d: %w", f.Path, f.Layer, err)
	} else if n != hdr.Size {
		return FileInfo{}, "", fmt.Errorf("%s: layer %d ends after %d of its %d bytes", f.Path, f.Layer, n, hdr.Size)
	}
	text, xattr := s.record()
	return FileInfo{
		Path:  f.Resolved,
		Caps:  text,
		Xattr: xattr,
		Mode:  fmt.Sprintf("%04o", h.Mode),
		UID:   h.Uid,
		GID:   h.Gid,
		Size:  h.Size,
	}, warn, nil
}
