package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runDecode(args []string, stdout, stderr io.Writer) error {
	return errors.New("decode: not implemented yet")
}
