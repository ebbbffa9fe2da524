package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/internal/vapeval"
)

func TestAdmissionPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	l := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	img := polImage(t, "1000", []string{"/app/server"}, "amd64", l)
	archive := polDockerArchive(t, filepath.Join(dir, "image.tar"), "example.com/app:1.0", img)
	lay := polLayout(t, filepath.Join(dir, "layout"), "example.com/app:1.0", img)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no image", nil, 2, "takes one or more IMAGEs"},
		{"a layer", []string{l}, 2, "is a single layer, not an image"},
		{"docker archive", []string{archive}, 2, "is a docker save tarball: it holds no manifest"},
		{"missing", []string{filepath.Join(dir, "nope")}, 2, "no such file"},
		{"bad --others-may-add", []string{"--others-may-add", "NET_RAWW", lay}, 2, `--others-may-add: admission: not a capability Kubernetes can name: "NET_RAWW"`},
		{"bad --name", []string{lay, "--name", "Caps"}, 2, "--name: admission: not a Kubernetes object name"},
		{"bad --namespace", []string{lay, "--namespace", "a/b"}, 2, "--namespace: admission: not a Kubernetes object name"},
		{"--output is a directory", []string{"--output", dir, lay}, 2, "is a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"admission-policy"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.msg)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	// Flags after the images, and the options reach the policy.
	code, stdout, stderr := runCLI(t, "admission-policy", lay, "--others-may-add", "net_raw,CHOWN", "--warn", "--namespace", "web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	vp, err := vapeval.Load([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if a := vp.Binding.Spec.ValidationActions; len(a) != 2 || a[0] != "Warn" {
		t.Errorf("--warn: validationActions %v", a)
	}
	if !strings.Contains(stdout, `["CHOWN", "NET_RAW", "CAP_CHOWN", "CAP_NET_RAW"]`) || !strings.Contains(stdout, "- web") {
		t.Errorf("--others-may-add or --namespace missing from the policy:\n%s", stdout)
	}

	// --output writes the same bytes.
	out := filepath.Join(dir, "policy.yaml")
	if code, _, stderr := runCLI(t, "admission-policy", "--output", out, lay, "--others-may-add", "net_raw,CHOWN", "--warn", "--namespace", "web"); code != 0 {
		t.Fatalf("--output: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != stdout {
		t.Fatalf("--output wrote %q (%v), want the stdout of the run without it", b, err)
	}
}
