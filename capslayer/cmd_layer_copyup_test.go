package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// copyUpBase writes the layers of a small merged-/usr base image for arch.
func copyUpBase(t *testing.T, arch string) []string {
	t.Helper()
	dir := t.TempDir()
	base := tartest.WriteFile(t, "base.tar", tartest.Tar(t,
		tartest.Symlink("bin", "usr/bin"), tartest.Dir("usr/"), tartest.Dir("usr/bin/"),
		tartest.File("usr/bin/busybox", "busybox for "+arch, nil)))
	top := filepath.Join(dir, "top.tar")
	if err := os.WriteFile(top, tartest.Tar(t, tartest.Dir("etc/"), tartest.File("etc/motd", "hi", nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{base, top}
}

func TestLayerFromImage(t *testing.T) {
	amd := polImage(t, "", nil, "amd64", copyUpBase(t, "amd64")...)
	arm := polImage(t, "", nil, "arm64", copyUpBase(t, "arm64")...)
	single := polLayout(t, t.TempDir(), "base:1", amd)
	multi := polLayout(t, t.TempDir(), "base:1", amd, arm)
	archive := polDockerArchive(t, filepath.Join(t.TempDir(), "base.tar"), "base:1", amd)

	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"layout", "busybox for amd64", []string{"--from-image", single}},
		{"docker-archive", "busybox for amd64", []string{"--from-image", archive}},
		{"index-amd64", "busybox for amd64", []string{"--from-image", multi, "--platform", "linux/amd64"}},
		{"index-arm64", "busybox for arm64", []string{"--from-image", multi, "--platform", "linux/arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "copyup.tar")
			args := append([]string{"layer"}, tc.args...)
			args = append(args, "--set", "/bin/busybox=cap_net_bind_service=ep", "--output", out, "--descriptor", out+".json")
			if code, _, stderr := runCLI(t, args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			recs := tartest.PAXRecords(t, b)
			x, err := caps.Decode(recs["/usr/bin/busybox"])
			if err != nil || x.String() != "cap_net_bind_service=ep" || len(recs) != 1 {
				t.Errorf("capability records %v (%v), want /usr/bin/busybox with cap_net_bind_service=ep", recs, err)
			}
			if !bytes.Contains(b, []byte(tc.want)) {
				t.Errorf("layer does not hold %q", tc.want)
			}
			desc, _ := os.ReadFile(out + ".json")
			if !strings.Contains(string(desc), `"path": "/usr/bin/busybox"`) {
				t.Errorf("descriptor %s", desc)
			}
		})
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no platform", []string{"--from-image", multi, "--set", "/bin/busybox=cap_net_raw=p"}, "holds 2 images: pick one with --platform"},
		{"wrong platform", []string{"--from-image", multi, "--platform", "linux/s390x", "--set", "/bin/busybox=cap_net_raw=p"}, "has no image for --platform linux/s390x"},
		{"missing", []string{"--from-image", single, "--set", "/usr/sbin/nginx=cap_net_raw=p"}, "searched layers 1, 0, top first"},
		{"symlink", []string{"--from-image", single, "--set", "/bin=cap_net_raw=p"}, `is a symlink to "usr/bin"`},
		{"no set", []string{"--from-image", single}, "needs at least one --set"},
		{"layer tar", []string{"--from-image", copyUpBase(t, "amd64")[0], "--set", "/bin/busybox=cap_net_raw=p"}, "is a single layer tar, not an image"},
		{"missing path", []string{"--from-image", "./missing/127.0.0.1:5000/base:1", "--set", "/bin/busybox=cap_net_raw=p"}, "no such file or directory"},
		{"with mode", []string{"--from-image", single, "--set", "/bin/busybox=cap_net_raw=p", "--mode", "0700"}, "--mode does not go with --from-image"},
		{"platform alone", []string{"--binary", "x", "--path", "/x", "--caps", "cap_net_raw=p", "--platform", "linux/amd64"}, "--platform only goes with --from-image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "copyup.tar")
			code, _, stderr := runCLI(t, append(append([]string{"layer"}, tc.args...), "--output", out)...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want an error saying %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written after an error")
			}
		})
	}
}

func TestLabelsForImagesOtherToolsAssemble(t *testing.T) {
	// A base whose ping already has a capability, and a copy-up layer of
	// its busybox: the label lists both, as capslayer image would.
	baseLayer := tartest.WriteFile(t, "base.tar", tartest.Tar(t,
		tartest.Symlink("bin", "usr/bin"), tartest.Dir("usr/"), tartest.Dir("usr/bin/"),
		tartest.File("usr/bin/busybox", "busybox", nil), tartest.File("usr/bin/ping", "ping", tartest.NetBindEP)))
	base := polLayout(t, t.TempDir(), "base:1", polImage(t, "", nil, "amd64", baseLayer))
	copyup := filepath.Join(t.TempDir(), "copyup.tar")
	if code, _, stderr := runCLI(t, "layer", "--from-image", base, "--set", "/bin/busybox=cap_net_bind_service=ep", "--output", copyup); code != 0 {
		t.Fatalf("layer: exit %d: %s", code, stderr)
	}
	labels := filepath.Join(t.TempDir(), "image.labels")
	if code, _, stderr := runCLI(t, "labels", "--base", base, "--output", labels, copyup); code != 0 {
		t.Fatalf("labels: exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(labels)
	want := `io.capslayer.capabilities={"/usr/bin/busybox":"cap_net_bind_service=ep","/usr/bin/ping":"cap_net_bind_service=ep"}` + "\n"
	if string(got) != want {
		t.Fatalf("labels file %q, want %q", got, want)
	}
	// Only the layer: what caps_layer writes beside each layer.
	if code, _, stderr := runCLI(t, "labels", "--output", labels, copyup); code != 0 {
		t.Fatalf("labels: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(labels); string(got) != `io.capslayer.capabilities={"/usr/bin/busybox":"cap_net_bind_service=ep"}`+"\n" {
		t.Errorf("layer labels file %q", got)
	}

	// The image as oci_image(base, tars, labels) assembles it: read and
	// verified by requirements; a forged label is caught.
	for _, tc := range []struct {
		label string
		ok    bool
	}{
		{strings.TrimPrefix(strings.TrimSpace(want), "io.capslayer.capabilities="), true},
		{`{"/usr/bin/busybox":"cap_sys_admin=ep","/usr/bin/ping":"cap_net_bind_service=ep"}`, false},
		{`{"/usr/bin/busybox":"cap_net_bind_service=ep"}`, false},
	} {
		img := polImage(t, "1000", []string{"/bin/busybox"}, "amd64", baseLayer, copyup)
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Config.Labels = map[string]string{"io.capslayer.capabilities": tc.label}
		img, err := mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		lay := polLayout(t, t.TempDir(), "app:1", img)
		code, stdout, stderr := runCLI(t, "requirements", lay)
		if tc.ok != (code == 0) || (!tc.ok && !strings.Contains(stderr, "does not match the layers")) {
			t.Errorf("label %s: exit %d, stdout %q, stderr %q", tc.label, code, stdout, stderr)
		}
	}
}
