package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type file struct {
	name  string
	mtime int64
	data  string
	xattr string
}

func tarOf(t *testing.T, files ...file) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data)), ModTime: time.Unix(f.mtime, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if f.xattr != "" {
			h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": f.xattr}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.data))
	}
	tw.Close()
	return b.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// explainFiles runs the command on two files holding a and b.
func explainFiles(t *testing.T, a, b []byte) (int, string) {
	t.Helper()
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(pa, a, 0o644)
	os.WriteFile(pb, b, 0o644)
	var out, errOut bytes.Buffer
	code := run([]string{pa, pb}, &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestExplain(t *testing.T) {
	hello := file{name: "app/hello", data: "hi"}
	later := hello
	later.mtime = 86400
	withCap := hello
	withCap.xattr = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	other := hello
	other.data = "ho"

	for _, tc := range []struct {
		name string
		a, b []byte
		code int
		want []string
	}{
		{"identical", tarOf(t, hello), tarOf(t, hello), 0, nil},
		{"mtime", gz(t, tarOf(t, hello)), gz(t, tarOf(t, later)), 1, []string{"a (gzip): entry app/hello: mtime: A=0 B=86400"}},
		{"capability", tarOf(t, hello), tarOf(t, withCap), 1, []string{"entry app/hello: PAX record SCHILY.xattr.security.capability: A=None B=0100000200200000"}},
		{"content", tarOf(t, hello), tarOf(t, other), 1, []string{"entry app/hello: content sha256:", "a > app/hello: contents differ at byte 1; sizes 2 and 2"}},
		{"entries", tarOf(t, hello), tarOf(t, hello, file{name: "app/x"}), 1, []string{"the entry lists differ (1 vs 2 entries):", "    +app/x"}},
		{"compression", tarOf(t, hello), gz(t, tarOf(t, hello)), 1, []string{"a: compression differs: A is none, B is gzip"}},
		{"JSON", []byte(`{"a": 1, "b": [1, 2]}`), []byte(`{"b": [1, 3], "a": 1}`), 1, []string{"a: JSON differs:", "    -    2", "    +    3"}},
		{"bytes", []byte("abcd"), []byte("abXd"), 1, []string{"a: contents differ at byte 2; sizes 4 and 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := explainFiles(t, tc.a, tc.b)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestExplainLayouts: blobs named by digest are paired through index.json,
// and a file only one tree has is named.
func TestExplainLayouts(t *testing.T) {
	dir := t.TempDir()
	write := func(root, name, data string) {
		p := filepath.Join(dir, root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o644)
	}
	for _, side := range []struct{ root, digest, layer string }{{"A", "sha256:aa", "one"}, {"B", "sha256:bb", "two"}} {
		write(side.root, "oci-layout", `{"imageLayoutVersion": "1.0.0"}`)
		write(side.root, "index.json", `{"manifests": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "`+side.digest+`"}]}`)
		write(side.root, "blobs/sha256/"+strings.TrimPrefix(side.digest, "sha256:"), side.layer)
	}
	write("B", "extra", "x")
	var out bytes.Buffer
	code := run([]string{filepath.Join(dir, "A"), filepath.Join(dir, "B")}, &out, &out)
	for _, w := range []string{
		"index.json.manifests[0] (blobs/sha256/aa vs blobs/sha256/bb): contents differ at byte 0; sizes 3 and 3",
		"extra: only in B",
		"index.json: JSON differs:",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "blobs/sha256/aa: only in A") {
		t.Errorf("a paired blob is listed as only in A:\n%s", out.String())
	}
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	if code := run([]string{"x"}, &out, &out); code != 2 {
		t.Errorf("one argument: exit %d", code)
	}
}
