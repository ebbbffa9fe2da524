package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runRequirements(args []string, stdout, stderr io.Writer) error {
	return errors.New("requirements: not implemented yet")
}
