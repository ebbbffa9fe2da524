package layer

import (
	"bytes"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// TestGNUTarExtract extracts a layer with GNU tar, as root, and reads the
// capabilities back from the files with getcap and getfattr: the kernel must
// hold exactly the bytes the layer carries.
func TestGNUTarExtract(t *testing.T) {
	testenv.RequireRoot(t, "extracting security.capability needs CAP_SETFCAP")
	testenv.RequireTools(t, "tar", "getcap", "getfattr")
	if out, _ := exec.Command("tar", "--version").Output(); !bytes.Contains(out, []byte("GNU tar")) {
		testenv.SkipOrFail(t, "tar is not GNU tar")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "layer.tar")
	files := append(testFiles(), rootIDFiles()...)
	if _, err := WriteFile(out, files); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	run(t, "tar", "--xattrs", "--xattrs-include=security.capability", "-xpf", out, "-C", root)

	for _, f := range files {
		p := filepath.Join(root, f.Path)
		got := strings.TrimSpace(run(t, "getcap", "-n", p)) // -n: print the rootid of v3 values
		var want string
		if f.Caps != nil {
			want = p + " " + f.Caps.String()
		}
		if got != want {
			t.Errorf("getcap %s = %q, want %q", f.Path, got, want)
		}
		if f.Caps == nil {
			continue
		}
		raw, _ := f.Caps.Encode()
		got = run(t, "getfattr", "--absolute-names", "--only-values", "-n", "security.capability", p)
		if got != string(raw) {
			t.Errorf("getfattr %s = %x, want %x", f.Path, got, raw)
		}
		src, _ := os.ReadFile(f.Source)
		if b, _ := os.ReadFile(p); !bytes.Equal(b, src) {
			t.Errorf("%s: extracted contents differ from %s", f.Path, f.Source)
		}
	}
	fi, err := os.Stat(filepath.Join(root, "app/server"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 || fi.ModTime().Unix() != 0 {
		t.Errorf("app/server: mode %v mtime %d, want 0755 and 0", fi.Mode(), fi.ModTime().Unix())
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}
