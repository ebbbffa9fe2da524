// Package errprefix gives every error of a library package the one
// "package: " prefix the project's errors start with ("inspect: ",
// "image: "), once: an exported function defers Add, so that no return
// site has to remember it and an error of another exported function of
// the same package, returned as is, is not prefixed twice.
package errprefix

import (
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
