package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// longPath returns an absolute path of exactly n bytes whose components
// are at most 255 bytes.
func longPath(n int) string {
	var b strings.Builder
	for b.Len() < n {
		left := n - b.Len() - 1 // for the "/"
		c := min(left, 200)
		if left-c == 1 { // a last component of 0 bytes is impossible
			c--
		}
		b.WriteString("/" + strings.Repeat("d", c))
	}
	return b.String()
}

// Regression tests for issue 15, "layers the tool writes but refuses to
// read": each input that was accepted before and broke a reader.

func TestPathOf4096BytesRefused(t *testing.T) {
	p := longPath(4096)
	err := CheckPath(p)
	if !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), "is 4096 bytes long") || !strings.Contains(err.Error(), "at most 4095 bytes") {
		t.Errorf("CheckPath(4096 bytes) = %v", err)
	}
	if len(err.Error()) > 400 {
		t.Errorf("error echoes the whole path (%d bytes)", len(err.Error()))
	}
}

func TestComponentOf256BytesRefused(t *testing.T) {
	p := "/app/" + strings.Repeat("n", 256)
	err := CheckPath(p)
	if !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), "has a name of 256 bytes") {
		t.Errorf("CheckPath(256-byte name) = %v", err)
	}
	if err := CheckPath("/app/" + strings.Repeat("n", 255)); err != nil {
		t.Errorf("CheckPath(255-byte name) = %v, want nil", err)
	}
}

// TestLongestPathReadBack writes the longest accepted path (4095 bytes,
// 255-byte names) with capabilities: capslayer's reader lists the
// capability and GNU tar extracts it.
func TestLongestPathReadBack(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bin")
	os.WriteFile(src, []byte("ELF"), 0o755)
	last := strings.Repeat("f", 255)
	p := longPath(4095-256) + "/" + last
	if len(p) != MaxPathLen {
		t.Fatalf("test path is %d bytes", len(p))
	}
	netRaw := mustHex("0000000200200000000000000000000000000000") // cap_net_raw=p
	var buf bytes.Buffer
	if _, err := Write(&buf, []File{{Path: p, Source: src, Caps: mustXattr(netRaw)}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := tarfs.Walk(bytes.NewReader(buf.Bytes()), func(name string, hdr *tar.Header) error {
		if hdr.Typeflag == tar.TypeReg && hdr.PAXRecords[caps.PAXRecordKey] != "" {
			got = append(got, name)
		}
		return nil
	}); err != nil {
		t.Fatalf("tarfs.Walk refuses the longest path capslayer writes: %v", err)
	}
	if len(got) != 1 || got[0] != p {
		t.Errorf("reader found capability files %q", got)
	}
	testenv.RequireTools(t, "tar")
	out := filepath.Join(dir, "l.tar")
	os.WriteFile(out, buf.Bytes(), 0o644)
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	if b, err := exec.Command("tar", "-xf", out, "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("GNU tar cannot extract a %d-byte path: %v\n%s", len(p), err, b)
	}
	// The extracted file is reachable component by component (the whole
	// path under root exceeds PATH_MAX, as it would under any mount point).
	if b, err := exec.Command("tar", "-tf", out).Output(); err != nil || !strings.Contains(string(b), last+"\n") {
		t.Errorf("tar -t: %v", err)
	}
}

func TestWhiteoutNamesRefused(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "bin")
	os.WriteFile(src, []byte("ELF"), 0o755)
	netRaw := mustHex("0000000200200000000000000000000000000000")
	for _, p := range []string{"/app/.wh.server", "/app/.wh..wh..opq", "/.wh.app/server", "/app/.wh..wh.plnk"} {
		for _, c := range []*caps.Xattr{mustXattr(netRaw), nil} {
			_, err := Write(&bytes.Buffer{}, []File{{Path: p, Source: src, Caps: c}})
			if !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), "whiteout name") {
				t.Errorf("%s (capabilities %v): error %v, want a whiteout refusal", p, c, err)
			}
		}
	}
	// Names that merely contain ".wh." are files.
	for _, p := range []string{"/app/x.wh.server", "/app/wh.server", "/app/..wh.x"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
}

func TestControlCharacterNamesRefused(t *testing.T) {
	for _, p := range []string{
		"/app/ser\nver",      // newline: a second table row
		"/app/\x1b[31mred",   // terminal escape sequence
		"/app/tab\there",     // tab: a table column
		"/app/cr\rx",         // carriage return
		"/app/del\x7f",       // DEL
		"/app/c1\u0085",      // C1 next-line control
		"/app/\u202egnp.exe", // right-to-left override
		"/app/zw\u200bsp",    // zero-width space
	} {
		err := CheckPath(p)
		if !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), "non-printable character") {
			t.Errorf("CheckPath(%q) = %v, want a non-printable refusal", p, err)
			continue
		}
		if strings.ContainsAny(err.Error(), "\n\r\t\x1b\x7f\u0085\u202e\u200b") {
			t.Errorf("the error for %q prints the character raw: %q", p, err)
		}
	}
	for _, p := range []string{"/app/with space", "/app/ünïcödé", "/app/日本語", "/app/a'b\"c"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
}
