package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runEncode(args []string, stdout, stderr io.Writer) error {
	return errors.New("encode: not implemented yet")
}
