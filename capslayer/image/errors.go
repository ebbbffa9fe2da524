package image

import (
	"errors"
)

// Errors of Build and WriteLayout, to match with errors.Is. Their messages speak of the
// image and Options; callers add their own words (the CLI's flags, the Bazel
// rule's attributes) for the fix.
var (
	// ErrNoBaseImage: the base (Options.Base) holds no image manifest, e.g.
	// an OCI layout whose index.json lists none, or only artifacts.
	ErrNoBaseImage = errors.New("the base holds no image")
	// ErrBaseRefNotFound: no image of the base matches Options.BaseRef.
	ErrBaseRefNotFound = errors.New("the base has no image of that name or digest")
	// ErrBasePlatformNotFound: no image of the base matches
	// Options.Platform.
	ErrBasePlatformNotFound = errors.New("the base has no image for that platform")
	// ErrBaseAmbiguous: the base holds several images and neither
	// Options.Platform nor Options.BaseRef picks one.
	ErrBaseAmbiguous = errors.New("the base holds several images")
	// ErrReservedLabel: Options.Labels sets a label capslayer writes itself
	// (imagemeta.LabelCapabilities), which would forge the metadata.
	ErrReservedLabel = errors.New("the label is written by capslayer image from the layers and cannot be set")
	// ErrEmptyEntrypoint: the entrypoint and command are both empty, so
	// there is nothing to check.
	ErrEmptyEntrypoint = errors.New("the image has an empty entrypoint and command")
	// ErrEntrypointNotFound: the entrypoint (or Cmd[0]) is in no layer of
	// the image (or in no directory of PATH).
	ErrEntrypointNotFound = errors.New("entrypoint not found in the image")
	// ErrEntrypointNotExecutable: the entrypoint exists but is not an
	// executable regular file.
	ErrEntrypointNotExecutable = errors.New("entrypoint is not an executable file")
	// ErrOutputNotReplaceable: WriteLayout refuses to replace its output
	// directory, which holds something other than an OCI image layout.
	ErrOutputNotReplaceable = errors.New("refusing to replace the output")
)

// EntrypointError is returned by Build when the entrypoint check fails. It
// matches ErrEntrypointNotFound or ErrEntrypointNotExecutable with
// errors.Is.
type EntrypointError struct {
	// Argv0 is the first word of the entrypoint (or of Cmd).
	Argv0 string
	// Reason says why it cannot run, e.g. "/app/serve exists in no layer
	// of the image".
	Reason string
	// Kind is ErrEntrypointNotFound or ErrEntrypointNotExecutable.
	Kind error
}

func (e *EntrypointError) Error() string { return "entrypoint " + e.Argv0 + ": " + e.Reason }

// Unwrap returns Kind.
func (e *EntrypointError) Unwrap() error { return e.Kind }
