package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// treeBytes reads every file under dir, by relative name.
func treeBytes(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestImageOutputsCommitTogetherOnENOSPC writes an image's layout, tarball
// and digest file onto a small tmpfs, then a bigger image that does not
// fit: the second run fails, and the three old outputs are left exactly as
// they were, with no temporary file beside them.
func TestImageOutputsCommitTogetherOnENOSPC(t *testing.T) {
	testenv.RequireRoot(t, "mounts a small tmpfs to fill the disk")
	testenv.RequireTools(t, "mount", "umount")
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "capslayer-enospc", disk).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", disk).Run() })

	small := capsLayerCLI(t)
	big := filepath.Join(t.TempDir(), "big.tar")
	payload := filepath.Join(t.TempDir(), "payload")
	b := make([]byte, 1<<20+512<<10) // 1.5 MiB that do not compress
	rand.Read(b)
	if err := os.WriteFile(payload, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "layer", "--binary", payload, "--path", "/app/server", "--caps", "cap_net_bind_service=ep", "--output", big); code != 0 {
		t.Fatalf("layer: %s", stderr)
	}

	layout := filepath.Join(disk, "layout")
	args := func(layer string) []string {
		return []string{"image", "--layer", layer, "--entrypoint", "/app/server", "--output", layout,
			"--tarball", filepath.Join(disk, "image.tar"), "--tag", "example.com/app:v1", "--digest-file", filepath.Join(disk, "image.digest")}
	}
	if code, _, stderr := runCLI(t, args(small)...); code != 0 {
		t.Fatalf("first image: exit %d: %s", code, stderr)
	}
	before := treeBytes(t, disk)

	code, _, stderr := runCLI(t, args(big)...)
	if code == 0 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("second image on a full disk: exit %d, stderr %q; want a failure naming ENOSPC", code, stderr)
	}
	after := treeBytes(t, disk)
	if len(after) != len(before) {
		t.Errorf("files before %d, after %d: %v", len(before), len(after), keys(after))
	}
	for name, content := range before {
		if after[name] != content {
			t.Errorf("%s changed although the run failed", name)
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
