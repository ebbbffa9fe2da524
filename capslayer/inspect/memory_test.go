package inspect

import (
	"archive/tar"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// liveHeapAfter streams a layer of n entries (regular files in 1000-entry
// directories, every 1000th with a capability, a symlink per directory)
// through LayerReader and returns the live heap, after a GC, measured while
// the reader holds all its state: just before the last entry is written.
func liveHeapAfter(t *testing.T, n int) uint64 {
	t.Helper()
	pr, pw := io.Pipe()
	var live uint64
	go func() {
		tw := tar.NewWriter(pw)
		for i := 0; i < n; i++ {
			hdr := &tar.Header{Name: fmt.Sprintf("d%04d/f%06d", i/1000, i), Typeflag: tar.TypeReg, Mode: 0o755}
			if i%1000 == 0 {
				hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(netBindEP)}
				tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l%04d", i/1000), Typeflag: tar.TypeSymlink, Linkname: fmt.Sprintf("d%04d", i/1000)})
			}
			if i == n-1 {
				tw.Flush()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				live = ms.HeapAlloc
			}
			tw.WriteHeader(hdr)
		}
		pw.CloseWithError(tw.Close())
	}()
	files, err := LayerReader(pr)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != (n+999)/1000 {
		t.Fatalf("%d capability files, want %d", len(files), (n+999)/1000)
	}
	return live
}

// TestMemoryDoesNotGrowWithEntries: inspect's memory grows with the
// capability files and symlinks it must remember, not with the number of
// entries. Ten times the entries (with ten times the capability files and
// symlinks, which are 0.2% of them) may not take much more live heap: a
// ratio measured in one run, not a timed threshold. docs/inspect.md gives
// the RSS at 1 M entries measured with /usr/bin/time -v.
func TestMemoryDoesNotGrowWithEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 300,000 tar entries")
	}
	small, large := liveHeapAfter(t, 30_000), liveHeapAfter(t, 300_000)
	t.Logf("live heap: %d KiB at 30,000 entries, %d KiB at 300,000", small>>10, large>>10)
	if large > 2*small+(1<<20) {
		t.Errorf("live heap grew from %d KiB to %d KiB for 10x the entries: inspect keeps per-entry state", small>>10, large>>10)
	}
}
