package policy

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// RequirementsOptions says what Requirements knows besides the image's
// files.
type RequirementsOptions struct {
	// User is the user the container runs as ("1000", "1000:1000",
	// "app"), from the image config or the command line.
	User string
	// UserKnown is true when User is known; an image config without a
	// user (User "") means root. A lone layer has no config.
	UserKnown bool
	// UserSource says where User came from ("image config", "--user").
	UserSource string
	// ImageRef is the image reference the docker and podman lines run;
	// empty means the placeholder IMAGE.
	ImageRef string
	// Paths limits the files considered to these paths (e.g. the
	// entrypoint); empty means every file with capabilities that is in the
	// container's filesystem.
	Paths []string
}

// Requirement is what a runtime must grant for the file capabilities of
// one image to work.
type Requirement struct {
	Image      string `json:"image,omitempty"`
	Platform   string `json:"platform,omitempty"`
	User       string `json:"user"`
	UserKnown  bool   `json:"user_known"`
	UserSource string `json:"user_source,omitempty"`
	// Files are the files whose capabilities were taken into account.
	Files []RequiredFile `json:"files"`
	// Capabilities are the Docker names of the capabilities the runtime
	// must keep in the container's bounding set: the union of the files'
	// permitted sets.
	Capabilities []string `json:"capabilities"`
	// Docker and Podman are the run commands as argv.
	Docker []string `json:"docker"`
	Podman []string `json:"podman"`
	// Kubernetes is the container securityContext.
	Kubernetes SecurityContext `json:"kubernetes_security_context"`
	// PodSecurityLevel is the strictest Pod Security Standards level the
	// securityContext passes: restricted, baseline or privileged.
	PodSecurityLevel string `json:"pod_security_level"`
	// PodSecurityReason explains PodSecurityLevel.
	PodSecurityReason string `json:"pod_security_reason"`
	// Warnings are what can make the container fail at run time.
	Warnings []string `json:"warnings"`
	// Notes are other facts worth knowing.
	Notes []string `json:"notes"`

	needed caps.Mask
}

// RequiredFile is one file whose capabilities a Requirement accounts for.
type RequiredFile struct {
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

// SecurityContext is the part of a Kubernetes container securityContext
// that capabilities need. Field names are Kubernetes'.
type SecurityContext struct {
	RunAsNonRoot             *bool               `json:"runAsNonRoot,omitempty"`
	RunAsUser                *int64              `json:"runAsUser,omitempty"`
	RunAsGroup               *int64              `json:"runAsGroup,omitempty"`
	AllowPrivilegeEscalation bool                `json:"allowPrivilegeEscalation"`
	Capabilities             CapabilitiesContext `json:"capabilities"`
	SeccompProfile           SeccompProfile      `json:"seccompProfile"`
	// Comments are written as YAML comments above the mapping.
	Comments []string `json:"-"`
}

// CapabilitiesContext is securityContext.capabilities.
type CapabilitiesContext struct {
	Drop []string `json:"drop"`
	Add  []string `json:"add,omitempty"`
}

// SeccompProfile is securityContext.seccompProfile.
type SeccompProfile struct {
	Type string `json:"type"`
}

// Pod Security Standards levels.
const (
	PSSRestricted = "restricted"
	PSSBaseline   = "baseline"
	PSSPrivileged = "privileged"
)

// userKind classifies the container user.
type userKind int

const (
	userUnknown userKind = iota
	userRoot
	userNonRoot
)

func classifyUser(user string, known bool) (userKind, *int64, *int64) {
	if !known {
		return userUnknown, nil, nil
	}
	name, group, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		return userRoot, nil, nil
	}
	var uid, gid *int64
	if n, err := strconv.ParseInt(name, 10, 64); err == nil && n >= 0 {
		uid = &n
	}
	if n, err := strconv.ParseInt(group, 10, 64); err == nil && n >= 0 {
		gid = &n
	}
	return userNonRoot, uid, gid
}

// Requirements works out what a runtime must grant for the file
// capabilities of img to work: the capabilities to keep in the bounding set
// (the union of the permitted sets of the files in the container's
// filesystem, or of opts.Paths), the docker and podman flags, a Kubernetes
// securityContext and the warnings that matter.
//
// The kernel facts behind it (security/commoncap.c), checked with runc:
// with the effective bit set, exec fails with EPERM when the bounding set
// lacks a permitted file capability; no_new_privs keeps exec from raising
// the permitted set above what the calling process holds, and Docker starts
// a non-root container with only the bounding set filled, so under
// no_new_privs the file capabilities are lost.
func Requirements(img inspect.Image, opts RequirementsOptions) (*Requirement, error) {
	r := &Requirement{
		Image:        img.Name,
		Platform:     img.Platform,
		User:         opts.User,
		UserKnown:    opts.UserKnown,
		UserSource:   opts.UserSource,
		Files:        []RequiredFile{},
		Capabilities: []string{},
		Warnings:     []string{},
		Notes:        []string{},
	}
	var visible []inspect.File
	var shadowed, invalid []string
	for _, f := range sortedFiles(img) {
		switch {
		case f.ShadowedBy >= 0:
			shadowed = append(shadowed, fmt.Sprintf("%s (layer %d, replaced or deleted by layer %d)", f.Path, f.Layer, f.ShadowedBy))
		case f.Invalid != "":
			invalid = append(invalid, fmt.Sprintf("%s (%s)", f.Path, f.Invalid))
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

	var inheritable caps.Mask
	var effective, promote []RequiredFile
	for _, f := range visible {
		fc := f.Xattr.Caps
		rf := RequiredFile{
			Path:        f.Path,
			Layer:       f.Layer,
			Caps:        fc.String(),
			Effective:   fc.Effective,
			Permitted:   nonNil(DockerNames(fc.Permitted)),
			Inheritable: DockerNames(fc.Inheritable),
			Revision:    f.Xattr.Revision,
			RootID:      f.Xattr.RootID,
		}
		r.Files = append(r.Files, rf)
		r.needed |= fc.Permitted
		inheritable |= fc.Inheritable
		if fc.Permitted != 0 {
			if fc.Effective {
				effective = append(effective, rf)
			} else {
				promote = append(promote, rf)
			}
		}
		if f.Xattr.Revision == 3 && f.Xattr.RootID != 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s has a revision 3 (namespaced) value with root uid %d: Linux ignores its capabilities unless the container's user namespace root is host uid %d; rebuild the layer with a revision 2 value", f.Path, f.Xattr.RootID, f.Xattr.RootID))
		}
	}
	r.Capabilities = nonNil(DockerNames(r.needed))
	kind, uid, gid := classifyUser(opts.User, opts.UserKnown)
	capsList := strings.Join(r.Capabilities, ", ")

	// docker and podman.
	ref := opts.ImageRef
	if ref == "" {
		ref = "IMAGE"
	}
	flags := []string{"--cap-drop", "ALL"}
	for _, c := range r.Capabilities {
		flags = append(flags, "--cap-add", c)
	}
	if opts.UserKnown && opts.User != "" {
		flags = append(flags, "--user", opts.User)
	}
	r.Docker = append(append([]string{"docker", "run"}, flags...), ref)
	r.Podman = append(append([]string{"podman", "run"}, flags...), ref)

	// Kubernetes.
	sc := SecurityContext{
		Capabilities:   CapabilitiesContext{Drop: []string{"ALL"}, Add: DockerNames(r.needed)},
		SeccompProfile: SeccompProfile{Type: "RuntimeDefault"},
	}
	yes := true
	switch kind {
	case userNonRoot:
		sc.RunAsNonRoot = &yes
		sc.RunAsUser, sc.RunAsGroup = uid, gid
		if uid == nil {
			sc.Comments = append(sc.Comments, fmt.Sprintf("the image runs as user %q: set runAsUser to its numeric uid, or the kubelet cannot check runAsNonRoot", opts.User))
		}
	case userRoot:
		sc.Comments = append(sc.Comments, "the image runs as root: runAsNonRoot: true would keep it from starting")
	case userUnknown:
		sc.RunAsNonRoot = &yes
		sc.Comments = append(sc.Comments, "user unknown: add runAsUser: <non-zero uid> (file capabilities are for a non-root user)")
	}
	// A non-root process gains file capabilities only without
	// no_new_privs, which allowPrivilegeEscalation: false sets.
	sc.AllowPrivilegeEscalation = r.needed != 0 && kind != userRoot
	r.Kubernetes = sc
	r.PodSecurityLevel, r.PodSecurityReason = podSecurityLevel(r.needed, kind)

	// Warnings.
	for _, f := range effective {
		what := f.Permitted[0]
		if len(f.Permitted) > 1 {
			what = "any of " + strings.Join(f.Permitted, ", ")
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s has the effective bit (%s): if the container's bounding set lacks %s (e.g. --cap-drop ALL without --cap-add, or Kubernetes drop: [ALL] without add), exec fails with EPERM (\"operation not permitted\") before the program starts", f.Path, f.Caps, what))
	}
	if r.needed != 0 && kind != userRoot {
		r.Warnings = append(r.Warnings, fmt.Sprintf("do not set no_new_privs (docker/podman --security-opt no-new-privileges, Kubernetes allowPrivilegeEscalation: false): exec then grants file capabilities only up to what the calling process already holds, and Docker starts a non-root process with none, so the program runs without %s", capsList))
	}
	if r.needed.Has(mustCap("NET_BIND_SERVICE")) {
		r.Warnings = append(r.Warnings, "binding a port below 1024 may work without any capability: Docker and containerd can set net.ipv4.ip_unprivileged_port_start=0 in the container's network namespace; to check that the file capability is what grants the port, run with --sysctl net.ipv4.ip_unprivileged_port_start=1024")
	}
	switch kind {
	case userRoot:
		if r.needed != 0 {
			r.Warnings = append(r.Warnings, "the image runs as root: root gets the capabilities of the bounding set without file capabilities, so these only matter for a non-root user; run it with --user UID")
		}
	case userUnknown:
		r.Warnings = append(r.Warnings, "no user is known (a lone layer has no image config): pass --user UID to get --user and runAsUser in the output")
	}
	for _, s := range invalid {
		r.Warnings = append(r.Warnings, "invalid security.capability value, not counted: "+s)
	}

	// Notes.
	for _, f := range promote {
		r.Notes = append(r.Notes, fmt.Sprintf("%s has no effective bit (%s): exec succeeds even when the runtime does not grant %s, and the program must raise it itself (libcap: cap.GetProc(), SetFlag(cap.Effective, true, ...), SetProc())", f.Path, f.Caps, strings.Join(f.Permitted, ", ")))
	}
	if kind != userRoot && r.needed != 0 {
		r.Notes = append(r.Notes, "podman also gives --cap-add capabilities directly to a non-root --user (effective, permitted, inheritable and ambient sets), so under podman the program has them even without the file capability; Docker and containerd (Kubernetes) do not, and rely on the file capability")
	}
	if only := inheritable &^ r.needed; only != 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%s only in inheritable sets: they take effect only when the process's inheritable set has them too, so they are not added", strings.Join(DockerNames(only), ", ")))
	}
	for _, s := range shadowed {
		r.Notes = append(r.Notes, "not counted, not in the container's filesystem: "+s)
	}
	if len(r.Files) == 0 {
		r.Notes = append(r.Notes, "no file in the container's filesystem has capabilities: the container needs none")
	}
	return r, nil
}

// pickPaths keeps the files at paths; every path must be one of them.
func pickPaths(visible []inspect.File, paths []string) ([]inspect.File, error) {
	var picked []inspect.File
	for _, p := range paths {
		found := false
		for _, f := range visible {
			if f.Path == p {
				picked = append(picked, f)
				found = true
			}
		}
		if found {
			continue
		}
		var have []string
		for _, f := range visible {
			have = append(have, f.Path)
		}
		if len(have) == 0 {
			return nil, fmt.Errorf("--path %s: no file in the container's filesystem has capabilities", p)
		}
		return nil, fmt.Errorf("--path %s: no file with capabilities there in the container's filesystem (files with capabilities: %s)", p, strings.Join(have, ", "))
	}
	return picked, nil
}

// podSecurityLevel returns the strictest Pod Security Standards level a
// pod running the image can pass, and why.
func podSecurityLevel(needed caps.Mask, kind userKind) (string, string) {
	baseline := mustMask(baselineNames...)
	nbs := mustMask("NET_BIND_SERVICE")
	switch {
	case needed&^baseline != 0:
		return PSSPrivileged, fmt.Sprintf("%s beyond what baseline allows adding (%s)", strings.Join(DockerNames(needed&^baseline), ", "), strings.Join(baselineNames, ", "))
	case kind == userRoot:
		return PSSBaseline, "restricted requires runAsNonRoot: true, and the image runs as root"
	case needed == 0 && kind == userUnknown:
		return PSSRestricted, "no capability needed; restricted also needs a non-root user (runAsNonRoot: true, runAsUser)"
	case needed == 0:
		return PSSRestricted, "no capability needed"
	}
	why := "restricted requires allowPrivilegeEscalation: false, which sets no_new_privs: exec then grants file capabilities only up to what the calling process already holds, and whether the runtime hands the added capabilities to a non-root process depends on the runtime (Docker does not: it fills only the bounding set). Baseline allows allowPrivilegeEscalation: true and adding " + strings.Join(baselineNames, ", ")
	if needed&^nbs != 0 {
		why += fmt.Sprintf("; restricted allows adding only NET_BIND_SERVICE, and the image needs %s", strings.Join(DockerNames(needed&^nbs), ", "))
	} else {
		why += ". To run under restricted, drop the file capability and let the pod set the sysctl net.ipv4.ip_unprivileged_port_start (Pod Security Standards allow it at every level) to the lowest port the program binds"
	}
	return PSSBaseline, why
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CommandLine returns argv as one line a POSIX shell runs as argv.
func CommandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// YAML returns the securityContext as a YAML mapping under the key
// "securityContext", indented by indent spaces.
func (sc SecurityContext) YAML(indent int) string {
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	for _, c := range sc.Comments {
		fmt.Fprintf(&b, "%s# %s\n", pad, c)
	}
	fmt.Fprintf(&b, "%ssecurityContext:\n", pad)
	if sc.RunAsNonRoot != nil {
		fmt.Fprintf(&b, "%s  runAsNonRoot: %t\n", pad, *sc.RunAsNonRoot)
	}
	if sc.RunAsUser != nil {
		fmt.Fprintf(&b, "%s  runAsUser: %d\n", pad, *sc.RunAsUser)
	}
	if sc.RunAsGroup != nil {
		fmt.Fprintf(&b, "%s  runAsGroup: %d\n", pad, *sc.RunAsGroup)
	}
	fmt.Fprintf(&b, "%s  allowPrivilegeEscalation: %t\n", pad, sc.AllowPrivilegeEscalation)
	fmt.Fprintf(&b, "%s  capabilities:\n", pad)
	fmt.Fprintf(&b, "%s    drop: [%s]\n", pad, yamlList(sc.Capabilities.Drop))
	if len(sc.Capabilities.Add) > 0 {
		fmt.Fprintf(&b, "%s    add: [%s]\n", pad, yamlList(sc.Capabilities.Add))
	}
	fmt.Fprintf(&b, "%s  seccompProfile:\n", pad)
	fmt.Fprintf(&b, "%s    type: %s\n", pad, sc.SeccompProfile.Type)
	return b.String()
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// RequirementsReport is the output of capslayer requirements: one
// Requirement per image.
type RequirementsReport struct {
	Source string         `json:"source"`
	Kind   string         `json:"kind"`
	Images []*Requirement `json:"images"`
}

// WriteJSON writes the report as indented JSON.
func (rr *RequirementsReport) WriteJSON(w io.Writer) error {
	return writeJSON(w, rr)
}

// WriteText writes the report for people: per image the files, the
// capabilities, copy-pasteable docker and podman lines, the Kubernetes
// securityContext and the warnings.
func (rr *RequirementsReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	for i, r := range rr.Images {
		if i > 0 {
			fmt.Fprintln(ew)
		}
		switch {
		case r.Image != "" || r.Platform != "":
			fmt.Fprintf(ew, "image %s %s from %s (%s)\n", dash(r.Image), dash(r.Platform), rr.Source, rr.Kind)
		default:
			fmt.Fprintf(ew, "%s (%s)\n", rr.Source, rr.Kind)
		}
		switch {
		case !r.UserKnown:
			fmt.Fprintf(ew, "user: unknown\n")
		case r.User == "":
			fmt.Fprintf(ew, "user: root (%s sets none)\n", r.UserSource)
		default:
			fmt.Fprintf(ew, "user: %s (%s)\n", r.User, r.UserSource)
		}
		if len(r.Files) == 0 {
			fmt.Fprintf(ew, "files with capabilities: none\n")
		} else {
			fmt.Fprintf(ew, "files with capabilities:\n")
			tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
			for _, f := range r.Files {
				fmt.Fprintf(tw, "  %s\t%s\tlayer %d\n", f.Path, f.Caps, f.Layer)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		capsText := "none"
		if len(r.Capabilities) > 0 {
			capsText = strings.Join(r.Capabilities, ", ")
		}
		fmt.Fprintf(ew, "capabilities the runtime must grant: %s\n\n", capsText)
		fmt.Fprintf(ew, "docker:\n  %s\n", CommandLine(r.Docker))
		fmt.Fprintf(ew, "podman:\n  %s\n", CommandLine(r.Podman))
		fmt.Fprintf(ew, "kubernetes (container; Pod Security Standards level: %s):\n", r.PodSecurityLevel)
		fmt.Fprint(ew, r.Kubernetes.YAML(2))
		fmt.Fprintf(ew, "pod security: %s: %s\n", r.PodSecurityLevel, r.PodSecurityReason)
		if len(r.Warnings) > 0 {
			fmt.Fprintf(ew, "\nwarnings:\n")
			for _, s := range r.Warnings {
				fmt.Fprintf(ew, "  - %s\n", s)
			}
		}
		if len(r.Notes) > 0 {
			fmt.Fprintf(ew, "\nnotes:\n")
			for _, s := range r.Notes {
				fmt.Fprintf(ew, "  - %s\n", s)
			}
		}
	}
	return ew.err
}
