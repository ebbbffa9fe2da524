package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runImage(args []string, stdout, stderr io.Writer) error {
	return errors.New("image: not implemented yet")
}
