package requirements

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
)

// Placeholder is what the run commands say in place of the image when no
// reference may be printed.
const Placeholder = "IMAGE"

// ErrImageRef is wrapped by the errors of CheckRef and CheckImageName.
var ErrImageRef = errors.New("requirements: not an image reference a run command can print")

// CheckRef checks a reference the caller gives (Options.ImageRef): a run
// command can print it in the image position if it is printable (a shell
// line can show it) and does not start with "-" (the engine would read it
// as a flag).
func CheckRef(ref string) error {
	switch {
	case ref == "":
		return fmt.Errorf("%w: it is empty", ErrImageRef)
	case strings.HasPrefix(ref, "-"):
		return fmt.Errorf("%w: %s starts with \"-\", so docker or podman would read it as a flag", ErrImageRef, printable.String(ref))
	case !printable.Safe(ref):
		return fmt.Errorf("%w: %s holds characters a shell line cannot show", ErrImageRef, printable.String(ref))
	}
	return nil
}

// CheckImageName checks a name an image gives itself (an OCI layout's
// org.opencontainers.image.ref.name or io.containerd.image.name
// annotation, a docker save tarball's RepoTags), which is input and may be
// hostile: the run commands print it only if CheckRef accepts it and it is
// a full distribution reference, registry/repository:tag or
// registry/repository@digest (go-containerregistry's strict validation), or
// a Docker Hub short name that expands to one (busybox:1.36 is
// docker.io/library/busybox:1.36, as the engines read it).
func CheckImageName(s string) error {
	if err := CheckRef(s); err != nil {
		return err
	}
	_, err := name.ParseReference(s, name.StrictValidation)
	if err == nil {
		return nil
	}
	for _, hub := range []string{"docker.io/", "docker.io/library/"} {
		if _, e := name.ParseReference(hub+s, name.StrictValidation); e == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a full image reference (registry/repository:tag or @digest): %s", ErrImageRef, printable.String(s), printable.Text(err.Error()))
}

// runRef returns the reference the run commands print for img, and a note
// when it is the placeholder because the image's own name was refused.
func runRef(imgName, given string) (ref, note string) {
	if given != "" {
		return given, ""
	}
	if imgName == "" || strings.HasPrefix(imgName, "sha256:") {
		return Placeholder, "" // no name: inspect names the image by digest
	}
	if err := CheckImageName(imgName); err != nil {
		return Placeholder, fmt.Sprintf("the run commands say %s for the image: its name %s, taken from the input, is not printed in a command (only a full reference, registry/repository:tag, that does not start with \"-\" is); give the reference to run (requirements --image)", Placeholder, printable.String(imgName))
	}
	return imgName, ""
}
