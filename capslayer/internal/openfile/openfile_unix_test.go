//go:build unix

package openfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRegularRefusesWithoutOpening(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "a named pipe (FIFO)"},
		{link, "a named pipe (FIFO)"}, // followed
		{"/dev/zero", "a character device"},
		{dir, "a directory"},
	} {
		done := make(chan error, 1)
		go func() { _, _, err := Regular(tc.path, "input x"); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "input x is "+tc.want) {
				t.Errorf("Regular(%s) = %v, want a refusal naming %s", tc.path, err, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Regular(%s) blocked", tc.path)
		}
		if err := Check(tc.path, "input x"); tc.path != dir && !errors.Is(err, ErrNotRegular) {
			t.Errorf("Check(%s) = %v", tc.path, err)
		}
	}
	if err := Check(filepath.Join(dir, "missing"), "x"); err != nil {
		t.Errorf("Check of a missing file = %v, want nil (the opener says so)", err)
	}
}
