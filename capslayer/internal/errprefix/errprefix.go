// Package errprefix gives every error of a library package the one
// "package: " prefix the project's errors start with ("inspect: ",
// "image: "), once: an exported function defers Add, so that no return
// site has to remember it and an error of another exported function of
// the same package, returned as is, is not prefixed twice.
//
// This is one part of the libraries' error idiom. An error a caller may act
// on has a kind, matched with errors.Is: an exported sentinel (ErrX; its
// text may carry the prefix itself, which Add then does not repeat) or a
// typed constant (image.Error). An error that carries data the caller needs
// is a struct type taken out with errors.As (image.EntrypointError,
// admission.OptionError, requirements.PathError), and unwraps to its kind.
// Messages say what is wrong in the library's terms and name no flag or
// Bazel attribute: the command line adds the fix, in one table (the
// capslayer command's hints.go).
package errprefix

import (
	"errors"
	"fmt"
	"strings"
)

// Add makes *err, when not nil, start with pkg + ": ". The error is
// wrapped, so errors.Is and errors.As see through it.
//
//	func Path(p string) (_ *Report, err error) {
//		defer errprefix.Add(&err, "inspect")
func Add(err *error, pkg string) {
	if *err != nil && !strings.HasPrefix((*err).Error(), pkg+": ") {
		*err = fmt.Errorf("%s: %w", pkg, *err)
	}
}

// Trim undoes Add: it returns the error that Add wrapped with pkg's
// prefix, for a caller that shares pkg's prefix (package inspect and the
// tar model under it, both "inspect: ") and wraps the error with its own
// context before it adds the prefix once. Any other error is returned as
// it is.
func Trim(err error, pkg string) error {
	if err == nil {
		return nil
	}
	inner := errors.Unwrap(err)
	if inner != nil && err.Error() == pkg+": "+inner.Error() {
		return inner
	}
	return err
}
