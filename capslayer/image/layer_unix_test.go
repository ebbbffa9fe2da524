//go:build unix

package image

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// TestBuildLayerFIFO: a FIFO given as a layer (`capslayer image --layer
// fifo`) is refused before it is opened; before the fix, os.Open blocked
// forever waiting for a writer.
func TestBuildLayerFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo.tar")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Build(Options{Layers: []string{p}, Entrypoint: []string{"/app/server"}, Created: epoch})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, inspect.ErrNotRegular) || !strings.Contains(err.Error(), "layer "+p) || !strings.Contains(err.Error(), "named pipe (FIFO)") {
			t.Errorf("got %v, want a refusal naming layer %s as a named pipe, wrapping inspect.ErrNotRegular", err, p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Build blocked on a FIFO layer for 10 s")
	}
}
