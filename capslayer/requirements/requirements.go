// Package requirements works out what a container runtime must grant for
// the file capabilities of an image to work, per runtime, from what the
// end-to-end tests measured on real engines (docs/runtime-matrix.md).
//
// For every image, Compute takes the files with capabilities that reach the
// container's filesystem (or the paths asked for), the user the container
// runs as, and returns a Result: the capabilities to grant, and one Runtime
// per target with the least privilege measured to work there, as data
// (run flags as argv, a Kubernetes securityContext), its Pod Security
// Standards level, and the caveats that matter on that target.
//
// The targets and what decides their advice (kernel: security/commoncap.c;
// the engines: docs/runtime-matrix.md):
//
//   - Docker gives a non-root process the added capabilities in its bounding
//     set only, so the file capability is what grants them, and
//     --security-opt no-new-privileges loses it (measured: e2e/docker).
//   - podman gives them in the bounding, permitted, effective and ambient
//     sets; rootless podman stores a revision 2 value as revision 3 for the
//     user's namespace, where it works (measured: e2e/podman).
//   - Kubernetes on containerd: the CRI plugin puts each added capability in
//     the bounding, effective and permitted sets, so under no_new_privs
//     (allowPrivilegeEscalation: false) exec still grants the file
//     capabilities up to that permitted set: the Pod Security Standards'
//     restricted level works (measured: e2e/cri, containerd 1.6 and 2.1).
//   - Kubernetes on CRI-O is not measured here (CRI-O is not packaged in
//     Debian); its sources add capabilities like containerd does.
package requirements

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Options says what Compute knows besides the image's files.
type Options struct {
	ContainerUser
	// ImageRef is the image reference the docker and podman commands run
	// (see CheckRef); empty means the image's own name when CheckImageName
	// accepts it, else the Placeholder.
	ImageRef string
	// Paths limits the files considered to these paths (e.g. the
	// entrypoint); empty means every file with capabilities that is in the
	// container's filesystem.
	Paths []string
}

// ContainerUser is the user the container runs as, when known, and where
// that was learnt: Options gives it, the Result says it again.
type ContainerUser struct {
	// User is the user the container runs as ("1000", "1000:1000",
	// "app"), from the image config or the command line.
	User string `json:"user"`
	// UserKnown is true when User is known; an image config without a
	// user (User "") means root. A lone layer has no config.
	UserKnown bool `json:"user_known"`
	// UserSource says where User came from ("image config", or the
	// caller's flag).
	UserSource string `json:"user_source,omitempty"`
}

// Result is what the runtimes must grant for the file capabilities of one
// image to work.
type Result struct {
	Image    string `json:"image,omitempty"`
	Platform string `json:"platform,omitempty"`
	ContainerUser
	// Files are the files whose capabilities were taken into account.
	Files []File `json:"files"`
	// Capabilities are the capabilities the runtime must grant: the union
	// of the files' permitted sets (Docker names in the JSON).
	Capabilities caps.Mask `json:"capabilities"`
	// Runtimes holds the advice per target, in the order of Targets.
	Runtimes []Runtime `json:"runtimes"`
	// Warnings are what can make the container fail at run time, whatever
	// the runtime.
	Warnings []Warning `json:"warnings"`
	// Notes are other facts worth knowing.
	Notes []string `json:"notes"`
}

// Warning is a fact that can make the container fail at run time. It
// marshals to JSON as its Text.
type Warning struct {
	Kind WarningKind
	// Text says it for people, in the words of this package: a caller may
	// add how its own users fix it (the CLI's flags), by Kind.
	Text string
}

// WarningKind says what a Warning is about.
type WarningKind string

// The kinds of Warning.
const (
	// WarnNotGranted: a file's capabilities are effective, so exec fails
	// if the runtime does not grant them.
	WarnNotGranted WarningKind = "not-granted"
	// WarnRootID: a revision 3 value whose rootid the kernel honours only
	// in a user namespace of that root.
	WarnRootID WarningKind = "rootid"
	// WarnRoot: the container runs as root, which needs no file
	// capabilities.
	WarnRoot WarningKind = "root"
	// WarnUserUnknown: no user is known (Options.UserKnown is false), so
	// the advice cannot tell root from non-root.
	WarnUserUnknown WarningKind = "user-unknown"
	// WarnInvalid: a security.capability value that does not decode.
	WarnInvalid WarningKind = "invalid"
	// WarnUnverified: the files come from the image's own label, its
	// layers not read (inspect.Image.LabelOnly): the image may need more
	// than it says.
	WarnUnverified WarningKind = "unverified"
)

func (w Warning) String() string { return w.Text }

// MarshalJSON writes the warning as its text.
func (w Warning) MarshalJSON() ([]byte, error) { return json.Marshal(w.Text) }

// File is one file whose capabilities a Result accounts for.
type File struct {
	Path      string `json:"path"`
	Layer     int    `json:"layer"`
	Caps      string `json:"caps"`
	Effective bool   `json:"effective"`
	// Permitted and Inheritable are Docker names.
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable,omitempty"`
	Revision    int      `json:"revision"`
	RootID      uint32   `json:"rootid,omitempty"`
}

// Runtime returns the advice for target; ok is false when r has none.
func (r *Result) Runtime(target Target) (Runtime, bool) {
	for _, rt := range r.Runtimes {
		if rt.Target == target {
			return rt, true
		}
	}
	return Runtime{}, false
}

// userKind classifies the container user.
type userKind int

const (
	userUnknown userKind = iota
	userRoot
	userNonRoot
)

// user is the container user as the advice needs it.
type user struct {
	kind     userKind
	name     string // as given, for --user
	uid, gid *int64 // when numeric
}

func classifyUser(name string, known bool) user {
	if !known {
		return user{kind: userUnknown}
	}
	u := user{kind: userNonRoot, name: name}
	n, group, _ := strings.Cut(name, ":")
	if n == "" || n == "root" || n == "0" {
		u.kind = userRoot
		return u
	}
	if v, err := strconv.ParseInt(n, 10, 64); err == nil && v >= 0 {
		u.uid = &v
	}
	if v, err := strconv.ParseInt(group, 10, 64); err == nil && v >= 0 {
		u.gid = &v
	}
	return u
}

// Compute works out what the runtimes must grant for the file capabilities
// of img to work. See the package comment.
func Compute(img inspect.Image, opts Options) (_ *Result, err error) {
	defer errprefix.Add(&err, "requirements")
	if opts.ImageRef != "" {
		if err := CheckRef(opts.ImageRef); err != nil {
			return nil, err
		}
	}
	r := &Result{
		Image:         img.Name,
		Platform:      img.Platform,
		ContainerUser: opts.ContainerUser,
		Files:         []File{},
		Warnings:      []Warning{},
		Notes:         []string{},
	}
	if img.LabelOnly {
		r.warn(WarnUnverified, fmt.Sprintf("unverified: the capabilities come from the image's %s label, its layers were not read; the image may need more than its label says", imagemeta.LabelCapabilities))
	}
	var visible []tarfs.File
	var shadowed, invalid []string
	for _, f := range img.SortedFiles() {
		switch {
		case f.ShadowedBy >= 0:
			shadowed = append(shadowed, fmt.Sprintf("%s (layer %d, replaced or deleted by layer %d)", printable.String(f.Path), f.Layer, f.ShadowedBy))
		case f.Invalid != "":
			invalid = append(invalid, fmt.Sprintf("%s (%s)", printable.String(f.Path), f.Invalid))
		default:
			visible = append(visible, f)
		}
	}
	if len(opts.Paths) > 0 {
		var err error
		if visible, err = pickPaths(visible, opts.Paths); err != nil {
			return nil, err
		}
	}

	var needed, inheritable caps.Mask
	var promote []File
	for _, f := range visible {
		fc := f.Xattr.Caps
		rf := File{
			Path:        f.Path,
			Layer:       f.Layer,
			Caps:        fc.String(),
			Effective:   fc.Effective,
			Permitted:   nonNil(fc.Permitted.DockerNames()),
			Inheritable: fc.Inheritable.DockerNames(),
			Revision:    f.Xattr.Revision,
			RootID:      f.Xattr.RootID,
		}
		r.Files = append(r.Files, rf)
		needed |= fc.Permitted
		inheritable |= fc.Inheritable
		if f.Xattr.Revision == 3 && f.Xattr.RootID != 0 {
			r.warn(WarnRootID, fmt.Sprintf("%s: revision 3 value with rootid %d: the kernel ignores it unless the container's user namespace root is host uid %d; rebuild the layer with a revision 2 value", printable.String(f.Path), f.Xattr.RootID, f.Xattr.RootID))
		}
		if fc.Permitted == 0 {
			continue
		}
		if fc.Effective {
			r.warn(WarnNotGranted, fmt.Sprintf("%s: %s: if the runtime does not grant %s, exec fails with \"operation not permitted\"", printable.String(f.Path), rf.Caps, strings.Join(rf.Permitted, ", ")))
		} else {
			promote = append(promote, rf)
		}
	}
	r.Capabilities = needed
	u := classifyUser(opts.User, opts.UserKnown)
	ref, refNote := runRef(img.Name, opts.ImageRef)
	r.Runtimes = advice(needed, u, ref)

	switch {
	case u.kind == userRoot && needed != 0:
		r.warn(WarnRoot, "the image runs as root: root gets the bounding set's capabilities without file capabilities; run it as a non-root user")
	case u.kind == userUnknown:
		r.warn(WarnUserUnknown, "no user is known (a lone layer has no image config)")
	}
	for _, s := range invalid {
		r.warn(WarnInvalid, "invalid security.capability value, not counted: "+s)
	}

	if refNote != "" {
		r.Notes = append(r.Notes, refNote)
	}
	if u.kind == userNonRoot && !userFlagOK(u.name) {
		r.Notes = append(r.Notes, fmt.Sprintf("the run commands leave out --user: the user %s (%s) starts with \"-\" or holds characters a shell line cannot show; give a uid", printable.String(u.name), printable.String(opts.UserSource)))
	}
	for _, f := range promote {
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %s has no effective bit: the program must raise %s itself (capslayer/activate)", printable.String(f.Path), f.Caps, strings.Join(f.Permitted, ", ")))
	}
	if only := inheritable &^ needed; only != 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%s only in inheritable sets: not granted (they need the process's inheritable set too)", strings.Join(only.DockerNames(), ", ")))
	}
	for _, s := range shadowed {
		r.Notes = append(r.Notes, "not counted, not in the container's filesystem: "+s)
	}
	if len(r.Files) == 0 {
		r.Notes = append(r.Notes, "no file in the container's filesystem has capabilities: the container needs none")
	}
	return r, nil
}

func (r *Result) warn(kind WarningKind, text string) {
	r.Warnings = append(r.Warnings, Warning{Kind: kind, Text: text})
}

// PathError is returned by Compute when an Options.Paths entry names no
// visible file with capabilities.
type PathError struct {
	Path string
	// Have lists the visible files with capabilities.
	Have []string
}

func (e *PathError) Error() string {
	if len(e.Have) == 0 {
		return fmt.Sprintf("requirements: %s: no file in the container's filesystem has capabilities", printable.String(e.Path))
	}
	return fmt.Sprintf("requirements: %s: no file with capabilities there in the container's filesystem (files with capabilities: %s)", printable.String(e.Path), PrintableList(e.Have))
}

// PrintableList joins names with ", ", each escaped by printable.String.
func PrintableList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = printable.String(n)
	}
	return strings.Join(q, ", ")
}

// pickPaths keeps the files at paths; every path must be one of them.
func pickPaths(visible []tarfs.File, paths []string) ([]tarfs.File, error) {
	var picked []tarfs.File
	for _, p := range paths {
		found := false
		for _, f := range visible {
			if f.Path == p {
				picked = append(picked, f)
				found = true
			}
		}
		if !found {
			e := &PathError{Path: p}
			for _, f := range visible {
				e.Have = append(e.Have, f.Path)
			}
			return nil, e
		}
	}
	return picked, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
