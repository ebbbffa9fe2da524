// Package tartest builds small layer tars for the tests of capslayer's
// packages (inspect, image, the CLI) and of e2e/compat, the way
// go-containerregistry's pkg/v1/random serves its own tests. It is the one
// tar-fixture builder of the repository.
package tartest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// NetBindEP is cap_net_bind_service=ep as setcap writes it (revision 2): the
// bytes `getfattr -e hex` prints after setcap on this kind of host.
var NetBindEP = []byte{0x01, 0, 0, 0x02, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// Entry is one tar member.
type Entry struct {
	Name  string
	Type  byte
	Body  string
	Link  string
	Mode  int64
	UID   int
	Xattr []byte // security.capability value, nil for none
}

// File is a regular file, mode 0755, with an optional capability value.
func File(name, body string, xattr []byte) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Body: body, Mode: 0o755, Xattr: xattr}
}

// Dir is a directory, mode 0755.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }

// Symlink is a symbolic link.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Link: target, Mode: 0o777}
}

// Tar returns a tar of the entries, written with archive/tar (PAX records
// for the capability values, zero times, owner UID and gid 0).
func Tar(t testing.TB, es ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Link, Uid: e.UID}
		if e.Type == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if e.Xattr != nil {
			hdr.PAXRecords = map[string]string{caps.PAXRecordKey: string(e.Xattr)}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Zstd compresses b.
func Zstd(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// WriteFile writes b to a new file named name in a test temp dir and
// returns its path.
func WriteFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// PAXRecords reads a tar (uncompressed) and returns, by clean entry name,
// the security.capability PAX value of each entry that has one.
func PAXRecords(t testing.TB, tarBytes []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarBytes))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		if v, ok := hdr.PAXRecords[caps.PAXRecordKey]; ok {
			out[filepath.Clean("/"+hdr.Name)] = []byte(v)
		}
	}
}

// ManyFiles writes to w a gzip layer of n empty regular files (mode 0644)
// spread over directories of 1000, after /app/server (mode 0755, carrying
// NetBindEP): the shape of a large image, for memory measurements. A
// million entries take about 7.5 MB.
func ManyFiles(w io.Writer, n int) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	hdrs := []*tar.Header{
		{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "app/server", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1, PAXRecords: map[string]string{caps.PAXRecordKey: string(NetBindEP)}},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if _, err := tw.Write([]byte("x")); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if i%1000 == 0 {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/d%04d/", i/1000), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/d%04d/file-%07d", i/1000, i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
