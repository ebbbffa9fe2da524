package openfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadRegularBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(p, "f", 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadRegular = %q, %v", b, err)
	}
	if _, err := ReadRegular(p, "CA file f", 9); err == nil || !strings.Contains(err.Error(), "CA file f is 10 bytes, more than the 9 bytes allowed") {
		t.Errorf("ReadRegular over the bound = %v", err)
	}
}

func TestRegularFS(t *testing.T) {
	fsys := fstest.MapFS{"a": {Data: []byte("x")}, "p": {Mode: os.ModeNamedPipe}}
	if _, _, err := RegularFS(fsys, "a", "a"); err != nil {
		t.Errorf("RegularFS(a) = %v", err)
	}
	if _, _, err := RegularFS(fsys, "p", "p"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("RegularFS(p) = %v", err)
	}
}
