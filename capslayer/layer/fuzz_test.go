package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"path"
	"strings"
	"testing"
	"unicode"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
)

// FuzzCheckPath checks that every destination CheckPath accepts is one the
// tar layout can hold: absolute, clean, not the root, with a relative tar
// name that maps back to it.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/app/server", "/", "", "app", "/a/../b", "/a//b", "/a/", "/./a", "/a\x00", "/ü", "/a/b/c/d", "/a/.wh.b", "/a\nb", "/a/\x1b[0m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p || strings.HasSuffix(p, "/") || strings.ContainsRune(p, 0) {
			t.Fatalf("CheckPath(%q) = nil for a path the layout cannot hold", p)
		}
		if len(p) > MaxPathLen || strings.Contains(p, "/.wh.") || strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("CheckPath(%q) = nil for a path over the limits, with a whiteout name or a non-printable character", p)
		}
		for _, c := range strings.Split(p, "/") {
			if len(c) > MaxComponentLen {
				t.Fatalf("CheckPath(%q) = nil with a %d-byte name", p, len(c))
			}
		}
		if name := p[1:]; "/"+name != p || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("tar name %q of %q is not relative", name, p)
		}
	})
}

// FuzzRewrite feeds arbitrary bytes to Rewrite: it must not panic, and
// whatever it accepts must be a tar whose /bin/ping carries the new
// capability, with as many entries as the input.
func FuzzRewrite(f *testing.F) {
	in, _, _ := fixture(&testing.T{})
	f.Add(in)
	f.Add(in[:2048])
	f.Add(append(in[:len(in):len(in)], 0)) // padding not in whole blocks
	f.Add([]byte{})
	for _, c := range []Compression{Gzip, Zstd} { // the decompressing readers
		var z bytes.Buffer
		zw, _ := compression.NewWriter(&z, c)
		zw.Write(in)
		zw.Close()
		f.Add(z.Bytes())
	}
	// In memory, no file per execution: ~10000 executions/s on one core
	// (tools/fuzz.sh; go's default 60s minimization of each new input hid
	// it behind a count of ~10 per minute).
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		if _, err := Rewrite(&out, bytes.NewReader(b), []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}, WithAllowUnsafeMode(true)); err != nil {
			return
		}
		count := func(b []byte) (n int, value string) {
			tr := tar.NewReader(bytes.NewReader(b))
			for {
				h, err := tr.Next()
				if err != nil {
					return n, value
				}
				n++
				if path.Clean("/"+h.Name) == "/bin/ping" {
					value = h.PAXRecords[caps.PAXRecordKey]
				}
			}
		}
		plain, _, _ := compression.NewReader(bytes.NewReader(b))
		tb, _ := io.ReadAll(plain)
		nIn, _ := count(tb)
		nOut, value := count(out.Bytes())
		if nIn != nOut || value != string(netRawP) || (out.Len()-len(tb))%512 != 0 {
			t.Fatalf("accepted input of %d entries gave %d entries, /bin/ping capability %x, %d bytes", nIn, nOut, value, out.Len())
		}
	})
}
