package main

import (
	"errors"
	"io"
)

// placeholder: replaced by the real implementation.
func runAudit(args []string, stdout, stderr io.Writer) error {
	return errors.New("audit: not implemented yet")
}
