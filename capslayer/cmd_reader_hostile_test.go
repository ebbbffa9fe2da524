package main

import (
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/tartest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Issue 15: audit printed PASS, 0 files, exit 0 on a layout whose
// index.json lists no manifest, and inspect listed nothing with exit 0.
func TestAuditCLILayoutWithEmptyManifests(t *testing.T) {
	dir := polLayout(t, t.TempDir(), "app")
	for _, args := range [][]string{
		{"audit", "--profile", "pss-restricted", dir},
		{"inspect", dir},
	} {
		code, stdout, stderr := polRun(args...)
		if code != 2 || strings.Contains(stdout, "PASS") || !strings.Contains(stderr, "holds no image to read: its index.json lists no image manifest") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 naming the empty index", args[0], code, stdout, stderr)
		}
	}
}

// Issue 15: names with newlines or escape characters were printed raw,
// breaking the table's rows (and repainting the terminal).
func TestInspectCLINameWithControlCharacters(t *testing.T) {
	p := tartest.WriteFile(t, "layer.tar", tartest.Tar(t,
		tartest.File("app/a\nb", "x", tartest.NetBindEP),
		tartest.File("app/\x1b[2Jclear", "x", tartest.NetBindEP)))
	code, stdout, stderr := runCLI(t, "inspect", p)
	if code != 0 || strings.ContainsAny(stdout, "\x1b") || !strings.Contains(stdout, `/app/a\nb `) || !strings.Contains(stdout, `/app/\x1b[2Jclear `) {
		t.Fatalf("exit %d, stderr %q, table:\n%s", code, stderr, stdout)
	}
	if n := strings.Count(stdout, "\n"); n != 3 {
		t.Errorf("table has %d lines, want a header and two rows:\n%s", n, stdout)
	}
	code, stdout, _ = polRun("audit", "--allow", "NET_BIND_SERVICE", p)
	if code != 0 || strings.ContainsAny(stdout, "\x1b") || !strings.Contains(stdout, `/app/a\nb `) {
		t.Fatalf("audit: exit %d, output:\n%s", code, stdout)
	}
}

// The guard at the verdict: an image with no layer is read fine, but no
// file was audited, so there is no PASS.
func TestAuditCLIImageWithoutLayers(t *testing.T) {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := polLayout(t, t.TempDir(), "app", img)
	code, stdout, stderr := polRun("audit", "--profile", "pss-restricted", dir)
	if code != 2 || strings.Contains(stdout, "PASS") || !strings.Contains(stderr, "1 images and 0 layers read, so nothing was audited") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
