package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runInspect(args []string, stdout, stderr io.Writer) error {
	return errors.New("inspect: not implemented yet")
}
