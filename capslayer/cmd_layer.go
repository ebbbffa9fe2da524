package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runLayer(args []string, stdout, stderr io.Writer) error {
	return errors.New("layer: not implemented yet")
}
