// Package quotetest holds, for tests, the corpus of hostile names that every
// printer of capslayer is fed, and a POSIX shell round trip that splits a
// printed command line back into argv with a real sh.
package quotetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Marker is the file that the corpus's command substitutions would create
// in the working directory of SplitShell if a printed line ran them.
const Marker = "PWNED"

// Names are hostile names: what an image can hold as a file name, a tag, a
// ref.name annotation or a user. Each is a way to change what a printed
// line, document or expression means, or what a terminal shows.
var Names = []string{
	"plain",
	"/app/server",
	"/app/with space",
	"it's",
	`"double"`,
	"/app/x'$(touch " + Marker + ")'",
	"$(touch " + Marker + ")",
	"`touch " + Marker + "`",
	"${HOME}",
	"a;touch " + Marker,
	"a && touch " + Marker + " | cat &",
	"a\nb",
	"a\r\nb",
	"cr\roverwrite",
	"-",
	"-rf",
	"--privileged",
	"--flag=value",
	"--volume=/:/host",
	"-v/:/host",
	"bidi\u202etxt.exe",
	"line\u2028separator",
	"paragraph\u2029separator",
	"nel\u0085next",
	"esc\x1b[2J\x1b[1;1HPASS",
	"\x1b]0;title\x07",
	"tab\tx",
	"del\x7fx",
	"bom\ufeffx",
	`back\slash\n`,
	"glob*?[a]",
	"~root",
	"#comment",
	"{a,b}",
	"!bang",
	"a=b",
	"key: value",
	"- item",
	"[flow, list]",
	"{flow: map}",
	"&anchor *alias !tag |",
	"null",
	"yes",
	"0x10",
	"",
	" leading and trailing ",
	"emoji \U0001F642",
	"invalid\xffutf8",
	`"+ object.spec + "`,
	`\" || true || \"`,
	"example.com/app:1.0",
	"example.com/app:1.0 --privileged",
	"example.com/app:1.0\n--privileged",
	"-example.com/app:1.0",
	"docker.io/library/busybox:latest",
	"busybox:latest",
}

// SplitShell runs line with sh as the arguments of `set --` and returns
// the words the shell split it into. It fails the test when sh fails, when
// line spans more than one line, or when running it created Marker (a
// command substitution ran).
func SplitShell(t testing.TB, line string) []string {
	t.Helper()
	if strings.ContainsAny(line, "\n\r") {
		t.Fatalf("shell line spans lines: %q", line)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "set -- "+line+"\nprintf '%s\\0' \"$@\"")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c 'set -- %s': %v: %s", line, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, Marker)); err == nil {
		t.Fatalf("the shell line ran a command: %q", line)
	}
	if len(out) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}
