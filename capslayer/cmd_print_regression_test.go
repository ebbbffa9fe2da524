package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote/quotetest"
)

// TestJustifyHintPastes: audit's --justify hint for a file named
// /app/x'$(touch PWNED)' is, pasted into sh, the one --justify argument for
// that file; it runs nothing.
func TestJustifyHintPastes(t *testing.T) {
	const p = "/app/x'$(touch " + quotetest.Marker + ")'"
	l := polWriteLayer(t, filepath.Join(t.TempDir(), "l.tar"), polEntry{path: p, caps: "cap_sys_admin=ep"})
	_, stdout, _ := runCLI(t, "audit", "--profile", "docker-default", l)
	_, hint, ok := strings.Cut(stdout, "justify it: ")
	if !ok {
		t.Fatalf("no --justify hint:\n%s", stdout)
	}
	hint, _, _ = strings.Cut(hint, "\n")
	got := quotetest.SplitShell(t, hint)
	if want := "--justify|" + p + ":SYS_ADMIN=why the program needs it"; strings.Join(got, "|") != want {
		t.Errorf("sh splits %s into %q, want %q", hint, got, want)
	}
}

// TestImageNameNotAFlag: a layout named --volume=/:/host does not put that
// flag in the docker line; IMAGE stands for it.
func TestImageNameNotAFlag(t *testing.T) {
	dir := t.TempDir()
	l := polWriteLayer(t, filepath.Join(dir, "l.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	for _, name := range []string{"--volume=/:/host", "-v/:/host", "example.com/app:1\n--privileged"} {
		lay := polLayout(t, filepath.Join(dir, "layout"+strings.NewReplacer("/", "_", "\n", "_").Replace(name)), name, polImage(t, "1000", nil, "amd64", l))
		_, stdout, _ := runCLI(t, "requirements", "--only", "docker", lay)
		argv := quotetest.SplitShell(t, strings.TrimSuffix(stdout, "\n"))
		if want := "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 IMAGE"; strings.Join(argv, " ") != want {
			t.Errorf("%q: docker line %q, want %s", name, argv, want)
		}
	}
}

// TestRequirementsEscapesNames: requirements prints a file name holding a
// bidi override, a line separator, a carriage return or a newline escaped,
// as inspect and audit do.
func TestRequirementsEscapesNames(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"/app/\u202egnp.exe", "/app/a\u2028b", "/app/a\rPASS", "/app/a\nPASS"} {
		l := polWriteLayer(t, filepath.Join(dir, "l.tar"), polEntry{path: p, caps: "cap_net_bind_service=ep"})
		_, stdout, _ := runCLI(t, "requirements", "--user", "1000", l)
		for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
			if !printable.Safe(line) {
				t.Errorf("%q: raw in %q", p, line)
			}
		}
		if !strings.Contains(stdout, printable.String(p)) {
			t.Errorf("%q: not printed escaped:\n%s", p, stdout)
		}
	}
}

// TestImageFlagNotAFlag: --image refuses what the engine would read as a
// flag, or what a shell line cannot show.
func TestImageFlagNotAFlag(t *testing.T) {
	l := polWriteLayer(t, filepath.Join(t.TempDir(), "l.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	for _, ref := range []string{"--privileged", "-v/:/host", "app:1\nx"} {
		code, stdout, stderr := runCLI(t, "requirements", "--only", "docker", "--image", ref, l)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "--image: requirements: not an image reference a run command can print") {
			t.Errorf("--image %q: exit %d, stdout %q, stderr %q", ref, code, stdout, stderr)
		}
	}
}
