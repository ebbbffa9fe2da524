package errprefix

import (
	"errors"
	"fmt"
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

func TestTrim(t *testing.T) {
	if Trim(nil, "inspect") != nil {
		t.Fatal("Trim(nil) is not nil")
	}
	inner := fmt.Errorf("layer: %w", fs.ErrNotExist)
	err := error(inner)
	Add(&err, "inspect")
	if got := Trim(err, "inspect"); got != inner {
		t.Errorf("Trim(%q) = %v, want the error Add wrapped", err, got)
	}
	if got := Trim(inner, "inspect"); got != inner {
		t.Errorf("an error without the prefix: Trim = %v, want it as it is", got)
	}
	// Another wrap that starts with the same words is not Add's.
	other := fmt.Errorf("inspect: %w: more", fs.ErrNotExist)
	if got := Trim(other, "inspect"); got != other {
		t.Errorf("Trim(%q) = %v, want it as it is", other, got)
	}
}
