package layer

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// Regression: --mtime 9223372036854775807 was accepted, and Python's
// tarfile cannot extract the result. Times after MaxModTime are refused;
// MaxModTime itself is extracted by Python's tarfile.
func TestModTime_9223372036854775807(t *testing.T) {
	for _, sec := range []int64{9223372036854775807, MaxModTime + 1} {
		if err := WithModTime(sec)(&options{}); !errors.Is(err, ErrModTime) {
			t.Errorf("WithModTime(%d) = %v, want ErrModTime", sec, err)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("x"), 0o644)
	out := filepath.Join(dir, "l.tar")
	if _, err := WriteFile(out, []File{{Path: "/app/x", Source: src, Caps: mustXattr(capServer)}}, WithModTime(MaxModTime)); err != nil {
		t.Fatal(err)
	}
	python := testenv.RequireTools(t, "python3")[0]
	x := filepath.Join(dir, "x")
	script := `import sys, tarfile, os
with tarfile.open(sys.argv[1]) as t:
    t.extractall(sys.argv[2], filter="tar")
print(int(os.stat(os.path.join(sys.argv[2], "app/x")).st_mtime))`
	got, err := exec.Command(python, "-c", script, out, x).CombinedOutput()
	if err != nil || string(got) != strconv.FormatInt(MaxModTime, 10)+"\n" {
		t.Errorf("python3 tarfile: %v\n%s\nwant mtime %d", err, got, int64(MaxModTime))
	}
}

// Regression: --mode 07777 (setuid, setgid, world-writable) with
// capabilities was accepted without a word.
func TestMode_07777_withCaps(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("x"), 0o644)
	caps := []File{{Path: "/app/x", Source: src, Caps: mustXattr(capServer)}}
	for _, mode := range []int64{0o7777, 0o4755, 0o2755, 0o757} {
		_, err := WriteFile(filepath.Join(dir, "l.tar"), caps, WithMode(mode))
		if !errors.Is(err, ErrUnsafeMode) {
			t.Errorf("mode %04o with capabilities: %v, want ErrUnsafeMode", mode, err)
		}
		if _, err := WriteFile(filepath.Join(dir, "l.tar"), caps, WithMode(mode), WithAllowUnsafeMode(true)); err != nil {
			t.Errorf("mode %04o with WithAllowUnsafeMode: %v", mode, err)
		}
		if _, err := WriteFile(filepath.Join(dir, "l.tar"), []File{{Path: "/app/x", Source: src}}, WithMode(mode)); err != nil {
			t.Errorf("mode %04o without capabilities: %v", mode, err)
		}
	}
	if _, err := WriteFile(filepath.Join(dir, "l.tar"), caps, WithMode(0o1755)); err != nil {
		t.Errorf("sticky bit: %v", err)
	}
}
