package image

import "strconv"

// Error is a kind of failure of Build and WriteLayout, to match with
// errors.Is (or errors.As, to switch on it). The returned errors wrap one
// and say more; their messages speak of the image and Options, and callers
// add their own words (the CLI's flags, the Bazel rule's attributes) for
// the fix. Being constants, the kinds cannot be reassigned by an importer,
// as exported error variables can (syscall.Errno is the same pattern).
type Error int

// The kinds of Error.
const (
	// ErrNoBaseImage: the base (Options.Base) holds no image manifest, e.g.
	// an OCI layout whose index.json lists none, or only artifacts.
	ErrNoBaseImage Error = iota + 1
	// ErrBaseRefNotFound: no image of the base matches Options.BaseRef.
	ErrBaseRefNotFound
	// ErrBasePlatformNotFound: no image of the base matches
	// Options.Platform.
	ErrBasePlatformNotFound
	// ErrBaseAmbiguous: the base holds several images and neither
	// Options.Platform nor Options.BaseRef picks one.
	ErrBaseAmbiguous
	// ErrReservedLabel: Options.Labels sets a label capslayer writes itself
	// (imagemeta.LabelCapabilities), which would forge the metadata.
	ErrReservedLabel
	// ErrEmptyEntrypoint: the entrypoint and command are both empty, so
	// there is nothing to check.
	ErrEmptyEntrypoint
	// ErrEntrypointNotFound: the entrypoint (or Cmd[0]) is in no layer of
	// the image (or in no directory of PATH).
	ErrEntrypointNotFound
	// ErrEntrypointNotExecutable: the entrypoint exists but is not an
	// executable regular file.
	ErrEntrypointNotExecutable
	// ErrOutputNotReplaceable: WriteLayout refuses to replace its output
	// directory, which holds something other than an OCI image layout.
	ErrOutputNotReplaceable
)

var errorText = [...]string{
	ErrNoBaseImage:             "the base holds no image",
	ErrBaseRefNotFound:         "the base has no image of that name or digest",
	ErrBasePlatformNotFound:    "the base has no image for that platform",
	ErrBaseAmbiguous:           "the base holds several images",
	ErrReservedLabel:           "the label is written by capslayer image from the layers and cannot be set",
	ErrEmptyEntrypoint:         "the image has an empty entrypoint and command",
	ErrEntrypointNotFound:      "entrypoint not found in the image",
	ErrEntrypointNotExecutable: "entrypoint is not an executable file",
	ErrOutputNotReplaceable:    "refusing to replace the output",
}

func (e Error) Error() string {
	if e > 0 && int(e) < len(errorText) {
		return errorText[e]
	}
	return "image error " + strconv.Itoa(int(e))
}

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
	Kind Error
}

func (e *EntrypointError) Error() string { return "entrypoint " + e.Argv0 + ": " + e.Reason }

// Unwrap returns Kind.
func (e *EntrypointError) Unwrap() error { return e.Kind }
