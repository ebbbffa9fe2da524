package layer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// marshal is the descriptor file's bytes for d.
func marshal(t *testing.T, d Descriptor) []byte {
	t.Helper()
	js, err := d.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestDescribeMatchesWrite: describing a written layer gives the
// descriptor Write returned, byte for byte, for every golden layer.
func TestDescribeMatchesWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []File
		c     Compression
		opts  []Option
	}{
		{"golden.tar", testFiles(), None, nil},
		{"golden.tar.gz", testFiles(), Gzip, nil},
		{"golden.tar.zst", testFiles(), Zstd, nil},
		{"golden-owner.tar", testFiles(), None, []Option{WithOwner(65532, 65532), WithMode(0o4750), WithModTime(1700000000), WithAllowUnsafeMode(true)}},
		{"golden-rootid.tar", rootIDFiles(), None, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, res := writeBytes(t, tc.files, append(tc.opts, WithCompression(tc.c))...)
			d, err := Describe(bytes.NewReader(b), tc.c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := marshal(t, d), marshal(t, res.Descriptor); !bytes.Equal(got, want) {
				t.Errorf("Describe =\n%s\nWrite described it as\n%s", got, want)
			}
		})
	}
}

// TestDescribeMatchesRewrite: with the named paths, describing a rewritten
// layer gives the descriptor Rewrite returned, for every compression and
// for tars of GNU tar as well as archive/tar.
func TestDescribeMatchesRewrite(t *testing.T) {
	in, _, _ := fixture(t)
	gnu, err := os.ReadFile("testdata/gnutar-owner.tar")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		sets []SetCap
	}{
		{"fixture", in, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}},
		{"gnutar", gnu, []SetCap{
			{Path: "/app/server", Caps: *mustXattr(netRawP)},
			{Path: "/app-data/motd", Caps: *mustXattr(capNSTool)},
		}},
	} {
		for _, c := range []Compression{None, Gzip, Zstd} {
			t.Run(tc.name+"/"+string(c), func(t *testing.T) {
				out, res, err := rewriteBytes(t, tc.in, tc.sets, WithCompression(c), WithAllowUnsafeMode(true))
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Files) <= len(tc.sets) {
					t.Fatalf("Rewrite lists %d files: the inputs carry capabilities or hard links besides the named files", len(res.Files))
				}
				var paths []string
				for _, s := range tc.sets {
					paths = append(paths, s.Path)
				}
				d, err := Describe(bytes.NewReader(out), c, paths)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := marshal(t, d), marshal(t, res.Descriptor); !bytes.Equal(got, want) {
					t.Errorf("Describe =\n%s\nRewrite described it as\n%s", got, want)
				}
			})
		}
	}
}

func TestDescribeRefuses(t *testing.T) {
	b, _ := writeBytes(t, testFiles())
	gz, _ := writeBytes(t, testFiles(), WithCompression(Gzip))
	for _, tc := range []struct {
		name  string
		b     []byte
		c     Compression
		paths []string
		want  string
	}{
		{"compression", gz, None, nil, "is gzip-compressed, not an uncompressed tar"},
		{"compression2", b, Zstd, nil, "is an uncompressed tar, not zstd-compressed"},
		{"missing", b, None, []string{"/app/server", "/nope"}, "not a regular file of the layer: /nope"},
		{"directory", b, None, []string{"/app"}, "not a regular file of the layer: /app"},
		{"twice", b, None, []string{"/app/server", "/app/server"}, "/app/server is named twice"},
		{"relative", b, None, []string{"app/server"}, "app/server"},
		{"truncated", b[:700], None, nil, "layer tar: entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Describe(bytes.NewReader(tc.b), tc.c, tc.paths)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "layer: ") {
				t.Errorf("Describe error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDescribeFile: the descriptor file DescribeFile writes is the one
// WriteFile writes with WithDescriptorFile; on an error nothing is written.
func TestDescribeFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "layer.tar.zst")
	if _, err := WriteFile(out, testFiles(), WithCompression(Zstd), WithDescriptorFile(filepath.Join(dir, "want.json"))); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "got.json")
	if _, err := DescribeFile(out, got, Zstd, nil); err != nil {
		t.Fatal(err)
	}
	gotJS, _ := os.ReadFile(got)
	wantJS, _ := os.ReadFile(filepath.Join(dir, "want.json"))
	if !bytes.Equal(gotJS, wantJS) {
		t.Errorf("DescribeFile wrote\n%s\nWriteFile wrote\n%s", gotJS, wantJS)
	}
	bad := filepath.Join(dir, "bad.json")
	if _, err := DescribeFile(out, bad, None, nil); err == nil {
		t.Error("DescribeFile of a zstd layer as uncompressed succeeded")
	}
	if _, err := DescribeFile(out, out, Zstd, nil); err == nil || !strings.Contains(err.Error(), "is the layer too") {
		t.Errorf("DescribeFile onto its layer: %v", err)
	}
	if _, err := DescribeFile(dir, bad, None, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("DescribeFile of a directory: %v", err)
	}
	assertOnly(t, dir, "got.json", "layer.tar.zst", "want.json")
}
