package harness

import (
	"encoding/hex"
	"strings"
	"testing"
)

// CapXattr returns the security.capability attribute of a file as lower-case
// hex, read with getfattr (what the kernel returns from getxattr(2)), or ""
// when the file has none.
func CapXattr(t testing.TB, path string) string {
	t.Helper()
	RequireTools(t, "getfattr")
	r := Run(t, Cmd{Args: []string{"getfattr", "--absolute-names", "-n", "security.capability", "-e", "hex", path}})
	if r.ExitCode != 0 {
		if strings.Contains(r.Stderr, "No such attribute") {
			return ""
		}
		t.Fatalf("getfattr failed:\n%s", r)
	}
	for _, line := range strings.Split(r.Stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "security.capability=0x"); ok {
			if _, err := hex.DecodeString(v); err != nil {
				t.Fatalf("getfattr printed a bad hex value %q: %v", v, err)
			}
			return strings.ToLower(v)
		}
	}
	t.Fatalf("no security.capability line in getfattr output:\n%s", r)
	return ""
}

// SetcapXattr applies capability text to a copy of a file with the real
// setcap and returns the attribute the kernel stored, as hex. It is the
// reference a layer's attribute is compared with: what `RUN setcap` in a
// Dockerfile would have produced on this kernel.
func SetcapXattr(t testing.TB, src, text string) string {
	t.Helper()
	RequireTools(t, "setcap", "cp")
	dst := t.TempDir() + "/setcap-reference"
	MustRun(t, "cp", src, dst)
	MustRun(t, "setcap", text, dst)
	return CapXattr(t, dst)
}
