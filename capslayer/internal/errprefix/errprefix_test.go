package errprefix

import (
	"errors"
	"io/fs"
	"testing"
)

func TestAdd(t *testing.T) {
	var err error
	Add(&err, "inspect")
	if err != nil {
		t.Fatalf("nil error became %v", err)
	}
	err = fs.ErrNotExist
	Add(&err, "inspect")
	if got, want := err.Error(), "inspect: file does not exist"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not wrap fs.ErrNotExist", err)
	}
	Add(&err, "inspect")
	if got, want := err.Error(), "inspect: file does not exist"; got != want {
		t.Errorf("prefixed twice: got %q, want %q", got, want)
	}
	Add(&err, "image")
	if got, want := err.Error(), "image: inspect: file does not exist"; got != want {
		t.Errorf("another package's prefix: got %q, want %q", got, want)
	}
}
