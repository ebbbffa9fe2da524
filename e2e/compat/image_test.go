package compat

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

// capsLayerCLI writes a layer with `capslayer layer` holding a real
// executable (/bin/true) at /app/server with cap_net_bind_service=ep.
func capsLayerCLI(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "caps.tar")
	harness.MustRun(t, harness.Capslayer.Path(t), "layer", "--binary", "/bin/true", "--path", "/app/server", "--caps", "cap_net_bind_service=ep", "--output", out)
	return out
}

// imageCLI runs the acceptance form of capslayer image.
func imageCLI(t *testing.T, layer, out string, extra ...string) {
	t.Helper()
	args := append([]string{harness.Capslayer.Path(t), "image", "--layer", layer, "--entrypoint", "/app/server", "--user", "1000", "--platform", "linux/amd64", "--output", out}, extra...)
	harness.MustRun(t, args...)
}

// TestImageUmociGetcap unpacks the layout with umoci, as the runc e2e does,
// and reads the capability back from the disk with getcap.
func TestImageUmociGetcap(t *testing.T) {
	harness.RequireTools(t, "umoci", "getcap")
	harness.RequireRoot(t) // umoci unpack keeps security.capability only as root
	l := capsLayerCLI(t)
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	imageCLI(t, l, layout, "--tag", "example.com/app:v1")
	bundle := filepath.Join(dir, "bundle")
	if out, err := exec.Command("umoci", "unpack", "--image", layout+":v1", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	out, err := exec.Command("getcap", filepath.Join(bundle, "rootfs", "app", "server")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasSuffix(got, "/rootfs/app/server cap_net_bind_service=ep") {
		t.Errorf("getcap: %q", got)
	}
	cfg, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	var spec struct {
		Process struct {
			Args []string
			User struct{ UID int }
		}
	}
	json.Unmarshal(cfg, &spec)
	if strings.Join(spec.Process.Args, " ") != "/app/server" || spec.Process.User.UID != 1000 {
		t.Errorf("runtime config %s", cfg)
	}
}

// TestImagePodmanLoad loads the tarball with podman, mounts the image and
// reads the capability with getcap. It removes the image it loaded.
func TestImagePodmanLoad(t *testing.T) {
	harness.RequireTools(t, "podman", "getcap")
	harness.RequireRoot(t) // podman image mount needs root
	l := capsLayerCLI(t)
	dir := t.TempDir()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	tag := "localhost/capslayer-image-test:" + hex.EncodeToString(suffix)
	imageCLI(t, l, filepath.Join(dir, "layout"), "--tarball", filepath.Join(dir, "img.tar"), "--tag", tag)
	// A private vfs store: the host's default store may be overlay, whose
	// mounts and xattr handling differ between hosts (in the offline Bazel
	// chroot getcap saw no capability through an overlay image mount).
	store := filepath.Join(dir, "store")
	global := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	podman := func(args ...string) (string, error) {
		cmd := exec.Command("podman", append(global, args...)...)
		// podman 5 warns about cgroups v1 on stderr; only stdout is parsed.
		cmd.Env = append(os.Environ(), "PODMAN_IGNORE_CGROUPSV1_WARNING=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		defer timer.Stop()
		out, err := cmd.Output()
		if err != nil {
			return string(out) + stderr.String(), err
		}
		return string(out), nil
	}
	if out, err := podman("load", "-i", filepath.Join(dir, "img.tar")); err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	defer podman("rmi", "-f", tag)
	if out, err := podman("image", "inspect", "--format", "{{.Config.Entrypoint}} {{.Config.User}}", tag); err != nil || strings.TrimSpace(out) != "[/app/server] 1000" {
		t.Errorf("podman image inspect: %v %q", err, out)
	}
	mnt, err := podman("image", "mount", tag)
	if err != nil {
		t.Fatalf("podman image mount: %v %s", err, mnt)
	}
	defer podman("image", "unmount", tag)
	server := filepath.Join(strings.TrimSpace(mnt), "app", "server")
	if _, err := os.Stat(server); err != nil {
		t.Fatalf("podman image mount gave %q: %v", mnt, err)
	}
	out, err := exec.Command("getcap", server).Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "/app/server cap_net_bind_service=ep") {
		t.Errorf("getcap in the loaded image: %v %q", err, out)
	}
}
