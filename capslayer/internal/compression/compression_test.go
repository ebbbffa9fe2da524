package compression

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestForName(t *testing.T) {
	for name, want := range map[string]Compression{
		"l.tar": None, "l.tar.gz": Gzip, "l.tgz": Gzip, "l.tar.zst": Zstd, "l.tzst": Zstd, "l.gz": "", "l.layer": "", "tar": "",
	} {
		got, ok := ForName(name)
		if got != want || ok != (want != "") {
			t.Errorf("ForName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestParseNamesExtensionsMediaTypes(t *testing.T) {
	want := map[Compression]struct {
		ext string
		mt  types.MediaType
	}{
		None: {".tar", "application/vnd.oci.image.layer.v1.tar"},
		Gzip: {".tar.gz", "application/vnd.oci.image.layer.v1.tar+gzip"},
		Zstd: {".tar.zst", "application/vnd.oci.image.layer.v1.tar+zstd"},
	}
	for _, n := range Names {
		c, err := Parse(n)
		if err != nil {
			t.Fatalf("Parse(%q): %v", n, err)
		}
		if got := Extension(c); got != want[c].ext {
			t.Errorf("Extension(%s) = %q, want %q", c, got, want[c].ext)
		}
		if got := MediaType(c); got != want[c].mt {
			t.Errorf("MediaType(%s) = %q, want %q", c, got, want[c].mt)
		}
		if back, ok := ForName("layer" + Extension(c)); !ok || back != c {
			t.Errorf("ForName(Extension(%s)) = %s, %v", c, back, ok)
		}
	}
	if _, err := Parse("xz"); err == nil || !strings.Contains(err.Error(), "use none, gzip or zstd") {
		t.Errorf("Parse(xz) error = %v", err)
	}
}

// TestWriterReaderRoundTrip compresses with NewWriter, reads back with
// NewReader and with the system tools, and pins the gzip header.
func TestWriterReaderRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("capslayer "), 10000)
	for _, tc := range []struct {
		c    Compression
		tool []string
	}{{None, nil}, {Gzip, []string{"gzip", "-dc"}}, {Zstd, []string{"zstd", "-dcq"}}} {
		t.Run(string(tc.c), func(t *testing.T) {
			var buf bytes.Buffer
			zw, err := NewWriter(&buf, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := zw.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			blob := buf.Bytes()
			if tc.c == Gzip && !bytes.HasPrefix(blob, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}) {
				t.Errorf("gzip header % x, want 1f 8b 08 00 00000000 00 ff (no name, no mtime, OS unknown)", blob[:10])
			}
			rc, c, err := NewReader(bytes.NewReader(blob))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || c != tc.c || !bytes.Equal(got, data) {
				t.Fatalf("NewReader: compression %s, %d bytes, %v; want %s, %d bytes", c, len(got), err, tc.c, len(data))
			}
			if tc.tool == nil {
				return
			}
			testenv.RequireTools(t, tc.tool[0])
			cmd := exec.Command(tc.tool[0], tc.tool[1:]...)
			cmd.Stdin = bytes.NewReader(blob)
			out, err := cmd.Output()
			if err != nil || !bytes.Equal(out, data) {
				t.Errorf("%v: %d bytes, %v; want the input back", tc.tool, len(out), err)
			}
		})
	}
}

func TestSniffRefusesOtherCompressions(t *testing.T) {
	for name, head := range map[string][]byte{
		"bzip2": []byte("BZh91AY"), "xz": {0xfd, '7', 'z', 'X', 'Z', 0}, "lz4": {0x04, 0x22, 0x4d, 0x18},
	} {
		if _, err := Sniff(head); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Sniff(%s) error = %v, want one naming %s", name, err, name)
		}
	}
	if c, err := Sniff([]byte("hello")); err != nil || c != None {
		t.Errorf("Sniff(plain) = %s, %v", c, err)
	}
}

// TestStarlarkTable keeps the rules' copy of this model (COMPRESSIONS in
// rules/private/validate.bzl: Starlark cannot call Go) equal to it.
func TestStarlarkTable(t *testing.T) {
	b, err := os.ReadFile("../../../rules/private/validate.bzl")
	if err != nil {
		t.Fatalf("read the rules' compression table: %v (under Bazel it is in the test's data)", err)
	}
	re := regexp.MustCompile(`(?m)^\s*"(\w+)": struct\(extension = "([^"]*)", media_type = "([^"]*)"\),$`)
	got := map[string][2]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		got[m[1]] = [2]string{m[2], m[3]}
	}
	if len(got) != len(Names) {
		t.Errorf("validate.bzl COMPRESSIONS has %d entries %v, want %d: %v", len(got), got, len(Names), Names)
	}
	for _, n := range Names {
		c, _ := Parse(n)
		want := [2]string{Extension(c), string(MediaType(c))}
		if got[n] != want {
			t.Errorf("validate.bzl COMPRESSIONS[%q] = %q, want %q", n, got[n], want)
		}
	}
}
