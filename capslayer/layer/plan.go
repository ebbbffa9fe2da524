package layer

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/abbrev"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/filekind"
)

// entry is one tar entry: a parent directory or a file.
type entry struct {
	name string // tar name: "app/" for a directory, "app/server" for a file
	dir  bool
	file *File
	caps *capability // the file's, or nil
	size int64       // content size seen when the source was checked
}

// Limits of a destination path, in bytes: what Linux (PATH_MAX 4096 with
// the terminating NUL, NAME_MAX 255), GNU tar and capslayer's own readers
// accept.
const (
	MaxPathLen      = 4095 // whole absolute path, leading "/" included
	MaxComponentLen = 255  // one name between slashes
)

// ErrPath is matched (errors.Is) by every error of CheckPath, a *PathError.
var ErrPath = errors.New("invalid destination path")

// PathError is a destination path that a layer cannot hold.
type PathError struct {
	Path string
	Err  error // what is wrong and how to fix it
}

func (e *PathError) Error() string        { return e.Err.Error() }
func (e *PathError) Unwrap() error        { return e.Err }
func (e *PathError) Is(target error) bool { return target == ErrPath }

// CheckPath reports whether p can be the path of a file in a layer: it must
// be absolute, clean (no "..", "." or "//"), not "/" and without a trailing
// slash; at most MaxPathLen bytes with components of at most
// MaxComponentLen; valid UTF-8 of printable characters only (no newline,
// tab, escape or other control or format character, which would break the
// tables inspect and audit print); and no component may be a whiteout name
// (".wh." prefix), which runtimes treat as a deletion marker rather than a
// file. The error, a *PathError matching ErrPath, names the bad value and suggests a fix.
func CheckPath(p string) (err error) {
	defer errprefix.Add(&err, "layer")
	return pathError(p)
}

// pathError is CheckPath for this package's own callers.
func pathError(p string) error {
	if err := checkPath(p); err != nil {
		return &PathError{Path: p, Err: err}
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New(`destination path is empty: give the absolute path of the file in the image, e.g. /app/server`)
	case len(p) > MaxPathLen:
		return fmt.Errorf("destination %s is %d bytes long: Linux, GNU tar and capslayer's readers take paths of at most %d bytes", abbrev.Quote(p), len(p), MaxPathLen)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("destination %q contains a NUL byte", p)
	case !utf8.ValidString(p):
		return fmt.Errorf("destination %q is not valid UTF-8", p)
	}
	for i, r := range p {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("destination %q contains the non-printable character %U at byte %d: file names in layers must be printable (newlines, tabs and escape sequences break the tables of inspect and audit); rename the file", p, r, i)
		}
	}
	switch {
	case p == "/":
		return errors.New(`destination "/" is the root directory: give the path of the file in the image, e.g. /app/server`)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("destination %q is not absolute: use %q", p, path.Clean("/"+p))
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("destination %q ends with \"/\": give the full path of the file, including its name, e.g. %q", p, path.Join(p, "server"))
	case path.Clean(p) != p:
		return fmt.Errorf("destination %q is not clean (it has \"..\", \".\" or \"//\" in it): use %q", p, path.Clean(p))
	}
	for _, c := range strings.Split(p[1:], "/") {
		if len(c) > MaxComponentLen {
			return fmt.Errorf("destination %s has a name of %d bytes (%s): Linux, GNU tar and capslayer's readers take names of at most %d bytes between slashes", abbrev.Quote(p), len(c), abbrev.Quote(c), MaxComponentLen)
		}
		if strings.HasPrefix(c, ".wh.") {
			return fmt.Errorf("destination %q has the whiteout name %q: in a layer a name starting with \".wh.\" deletes a file of the layers below (\".wh..wh..opq\" empties a directory) instead of being a file, so runtimes would never create it; rename it", p, c)
		}
	}
	return nil
}

// capability is a file's capabilities as an entry stores them: the
// security.capability value and its text, both from one caps.Xattr.
type capability struct {
	raw  []byte // the value of the PAX record caps.PAXRecordKey
	text string // as getcap -n prints it
}

// encodeCapability encodes x for the file at p; nil stays nil.
func encodeCapability(p string, x *caps.Xattr) (*capability, error) {
	if x == nil {
		return nil, nil
	}
	raw, err := x.Encode()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &capability{raw: raw, text: x.String()}, nil
}

// record returns the descriptor's caps and xattr fields for c.
func (c *capability) record() (text, xattr string) {
	if c == nil {
		return "", ""
	}
	return c.text, hex.EncodeToString(c.raw)
}

// plan validates files and returns the entries of the layer in archive
// order, with warnings. It stats and peeks at every source so that bad
// input fails before any output is written.
func plan(files []File, o *options) ([]entry, []string, error) {
	if len(files) == 0 {
		return nil, nil, errors.New("no files given: a layer needs at least one file")
	}
	byPath := make(map[string]*File, len(files))
	encoded := make([]*capability, len(files))
	var entries []entry
	var warnings []string
	for i := range files {
		f := &files[i]
		if err := pathError(f.Path); err != nil {
			return nil, nil, err
		}
		if g, dup := byPath[f.Path]; dup {
			return nil, nil, fmt.Errorf("destination %s is given twice (sources %q and %q): each path holds one file", f.Path, g.Source, f.Source)
		}
		byPath[f.Path] = f
		c, err := encodeCapability(f.Path, f.Caps)
		if err != nil {
			return nil, nil, err
		}
		encoded[i] = c
	}
	dirs := make(map[string]bool)
	for i := range files {
		f := &files[i]
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			if g, ok := byPath[d]; ok {
				return nil, nil, fmt.Errorf("destination %s is a file (from %q) but also the parent directory of %s: move one of them", d, g.Source, f.Path)
			}
			if dirs[d] {
				break // its parents are recorded too
			}
			dirs[d] = true
			entries = append(entries, entry{name: d[1:] + "/", dir: true})
		}
	}
	for i := range files {
		f := &files[i]
		if bits := caps.UnsafeMode(o.mode); f.Caps != nil && bits != "" && !o.allowUnsafe {
			return nil, nil, fmt.Errorf("%s: %w: mode %04o sets %s; use a mode without them, e.g. 0755", f.Path, ErrUnsafeMode, o.mode, bits)
		}
		size, warn, err := checkSource(f, o.allowScripts)
		if err != nil {
			return nil, nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
		entries = append(entries, entry{name: f.Path[1:], file: f, caps: encoded[i], size: size})
	}
	// Sort by path components, so that a directory's entries directly
	// follow it ("app/", "app/server", "app-data"), as GNU tar --sort=name
	// orders them. Parents sort before their children.
	slices.SortFunc(entries, func(a, b entry) int {
		return slices.Compare(
			strings.Split(strings.TrimSuffix(a.name, "/"), "/"),
			strings.Split(strings.TrimSuffix(b.name, "/"), "/"))
	})
	return entries, warnings, nil
}

// checkSource checks that f.Source is (or links to) a regular file and, if
// the file gets capabilities, that it is not a script. It returns the size.
func checkSource(f *File, allowScripts bool) (int64, string, error) {
	src := f.Source
	if src == "" {
		return 0, "", fmt.Errorf("%s: source path is empty: give the host file to store there", f.Path)
	}
	// Stat before opening: opening a named pipe would block, and opening a
	// device can have side effects.
	fi, err := os.Stat(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if li, lerr := os.Lstat(src); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
				target, _ := os.Readlink(src)
				return 0, "", fmt.Errorf("%s: source %q is a symlink to %q, which does not exist: fix the link or give the file itself", f.Path, src, target)
			}
			return 0, "", fmt.Errorf("%s: source %q does not exist: check the path (a relative path is relative to the working directory)", f.Path, src)
		}
		return 0, "", fmt.Errorf("%s: source: %w", f.Path, err)
	}
	if err := checkRegular(f, fi); err != nil {
		return 0, "", err
	}
	fd, err := os.Open(src) // fails now, not mid-stream, if unreadable
	if err != nil {
		return 0, "", fmt.Errorf("%s: source: %w", f.Path, err)
	}
	defer fd.Close()
	if f.Caps == nil {
		return fi.Size(), "", nil
	}
	var magic [2]byte
	if _, err := fd.ReadAt(magic[:], 0); err != nil && err != io.EOF {
		return 0, "", fmt.Errorf("%s: read source %q: %w", f.Path, src, err)
	}
	if string(magic[:]) != "#!" {
		return fi.Size(), "", nil
	}
	if !allowScripts {
		return 0, "", fmt.Errorf("%s: source %q is a script (it starts with \"#!\"): the kernel runs its interpreter, not the script, so give the capabilities to a compiled binary (or to the interpreter) instead (%w)", f.Path, src, ErrScript)
	}
	return fi.Size(), fmt.Sprintf("%s: source %q starts with \"#!\": the kernel ignores file capabilities on scripts, so %s will run without them", f.Path, src, f.Path), nil
}

// checkRegular rejects anything but a regular file, naming what it is.
func checkRegular(f *File, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return fmt.Errorf("%s: source %q is a directory: give the path of a file (a layer stores single files; list each with its own path)", f.Path, f.Source)
	}
	return fmt.Errorf("%s: source %q is %s, not a regular file", f.Path, f.Source, filekind.Of(m))
}
