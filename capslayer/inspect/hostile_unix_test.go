//go:build unix

package inspect

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// hostileUnix are the corpus inputs that need a FIFO: before the fix,
// reading any of them blocked forever.
func hostileUnix() []hostile {
	fifo := func(t testing.TB, p string) {
		t.Helper()
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []hostile{
		{name: "layout_blob_fifo", is: ErrNotRegular, want: "a named pipe (FIFO)",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				p, _ := layerBlobPath(t, dir)
				os.Remove(p)
				fifo(t, p)
				return dir
			}},
		{name: "layout_index_json_fifo", is: ErrNotRegular, want: "a named pipe (FIFO)",
			make: func(t testing.TB, dir string) string {
				goodLayout(t, dir)
				os.Remove(filepath.Join(dir, "index.json"))
				fifo(t, filepath.Join(dir, "index.json"))
				return dir
			}},
		{name: "input_fifo", is: ErrNotRegular, want: "a named pipe (FIFO)",
			make: func(t testing.TB, dir string) string {
				p := filepath.Join(dir, "layer.tar")
				fifo(t, p)
				return p
			}},
	}
}
