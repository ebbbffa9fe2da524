package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRequirementsCLILayer(t *testing.T) {
	dir := t.TempDir()
	l := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	tests := []struct {
		name string
		args []string
		out  string // exact stdout, or substrings separated by "|" when prefixed with "~"
	}{
		{"docker", []string{"--only", "docker", l}, "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE\n"},
		{"podman with user and image", []string{"--only", "podman", "--user", "1000", "--image", "example.com/app:1.0", l},
			"podman run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0\n"},
		{"flags", []string{l, "--only", "flags", "--user", "1000"}, "--cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000\n"},
		{"capabilities", []string{"--only", "capabilities", l}, "NET_BIND_SERVICE\n"},
		{"kubernetes", []string{"--only", "kubernetes", "--user", "1000", l},
			"securityContext:\n  runAsNonRoot: true\n  runAsUser: 1000\n  allowPrivilegeEscalation: false\n  capabilities:\n    drop: [ALL]\n    add: [NET_BIND_SERVICE]\n  seccompProfile:\n    type: RuntimeDefault\n"},
		{"text", []string{l}, "~" + l + " (layer)|user: unknown|/app/server  cap_net_bind_service=ep  layer 0|" +
			"\n  docker run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE\n|\n  podman run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE\n|" +
			"Pod Security Standards: restricted|exec fails with \"operation not permitted\"|Kubernetes on CRI-O (not measured|" +
			"\n  - no user is known (a lone layer has no image config): pass --user UID\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := polRun(append([]string{"requirements"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.HasPrefix(tc.out, "~") {
				for _, s := range strings.Split(tc.out[1:], "|") {
					if !strings.Contains(stdout, s) {
						t.Errorf("output lacks %q:\n%s", s, stdout)
					}
				}
			} else if stdout != tc.out {
				t.Errorf("output =\n%s\nwant\n%s", stdout, tc.out)
			}
		})
	}
}

func TestRequirementsCLIImages(t *testing.T) {
	dir := t.TempDir()
	base := polWriteLayer(t, filepath.Join(dir, "base.tar"), polEntry{path: "/usr/bin/ping", caps: "cap_net_raw=ep"})
	top := polWriteLayer(t, filepath.Join(dir, "top.tar"), polEntry{path: "/usr/bin/ping", whiteout: true}, polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	img := polImage(t, "1000", []string{"/app/server", "--port", "80"}, "amd64", base, top)
	layoutDir := polLayout(t, filepath.Join(dir, "layout"), "example.com/app:1.0", img)
	archive := polDockerArchive(t, filepath.Join(dir, "image.tar"), "example.com/app:1.0", img)
	for _, p := range []string{layoutDir, archive} {
		code, stdout, stderr := polRun("requirements", "--json", p)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", p, code, stderr)
		}
		type runtime struct {
			Target   string   `json:"target"`
			Measured bool     `json:"measured"`
			Command  []string `json:"command"`
			RunFlags []string `json:"run_flags"`
			Level    string   `json:"pod_security_level"`
			SC       *struct {
				AllowPrivilegeEscalation bool `json:"allowPrivilegeEscalation"`
				RunAsUser                int  `json:"runAsUser"`
			} `json:"security_context"`
			NoNewPrivs bool     `json:"no_new_privs"`
			Caveats    []string `json:"caveats"`
		}
		var rr struct {
			Kind   string
			Images []struct {
				Image, Platform, User string
				UserSource            string    `json:"user_source"`
				Capabilities          []string  `json:"capabilities"`
				Runtimes              []runtime `json:"runtimes"`
				Notes                 []string  `json:"notes"`
			}
		}
		if err := json.Unmarshal([]byte(stdout), &rr); err != nil {
			t.Fatalf("%s: %v\n%s", p, err, stdout)
		}
		if len(rr.Images) != 1 {
			t.Fatalf("%s: %d images", p, len(rr.Images))
		}
		r := rr.Images[0]
		if r.User != "1000" || r.UserSource != "image config" || r.Platform != "linux/amd64" {
			t.Errorf("%s: user %q from %q, platform %q", p, r.User, r.UserSource, r.Platform)
		}
		if len(r.Runtimes) != 4 {
			t.Fatalf("%s: %d runtimes, want docker, podman, kubernetes-containerd, kubernetes-cri-o", p, len(r.Runtimes))
		}
		docker, k8s, crio := r.Runtimes[0], r.Runtimes[2], r.Runtimes[3]
		if got := strings.Join(docker.Command, " "); docker.Target != "docker" || got != "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0" {
			t.Errorf("%s: %s = %s", p, docker.Target, got)
		}
		if got := strings.Join(docker.RunFlags, " "); got != "--cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000" || docker.NoNewPrivs || len(docker.Caveats) == 0 {
			t.Errorf("%s: docker run_flags %q, no_new_privs %t, caveats %q", p, got, docker.NoNewPrivs, docker.Caveats)
		}
		if k8s.Target != "kubernetes-containerd" || !k8s.Measured || k8s.Level != "restricted" || k8s.SC == nil || k8s.SC.AllowPrivilegeEscalation || !k8s.NoNewPrivs || k8s.SC.RunAsUser != 1000 {
			t.Errorf("%s: %s: level %s, securityContext %+v", p, k8s.Target, k8s.Level, k8s.SC)
		}
		if crio.Target != "kubernetes-cri-o" || crio.Measured || crio.SC == nil {
			t.Errorf("%s: %s measured %t", p, crio.Target, crio.Measured)
		}
		if !strings.Contains(strings.Join(r.Notes, "\n"), "/usr/bin/ping (layer 0, replaced or deleted by layer 1)") {
			t.Errorf("%s: notes lack the shadowed ping: %q", p, r.Notes)
		}
	}

	// --user overrides the config.
	code, stdout, _ := polRun("requirements", "--only", "kubernetes", "--user", "0", layoutDir)
	if code != 0 || !strings.Contains(stdout, "# the image runs as root") || !strings.Contains(stdout, "allowPrivilegeEscalation: false") {
		t.Errorf("--user 0: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = polRun("requirements", "--only", "docker", "--image", "registry.example/app@sha256:abc", archive)
	if code != 0 || stdout != "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 registry.example/app@sha256:abc\n" {
		t.Errorf("--image: exit %d, %q", code, stdout)
	}
}

func TestRequirementsCLIPlatforms(t *testing.T) {
	dir := t.TempDir()
	amd := polWriteLayer(t, filepath.Join(dir, "amd.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	arm := polWriteLayer(t, filepath.Join(dir, "arm.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service,cap_net_raw=ep"})
	layoutDir := polLayout(t, filepath.Join(dir, "layout"), "example.com/app:1.0",
		polImage(t, "", nil, "amd64", amd), polImage(t, "", nil, "arm64", arm))
	code, _, stderr := polRun("requirements", "--only", "capabilities", layoutDir)
	if code != 2 || !strings.Contains(stderr, "holds 2 images that need different settings: choose one with --platform (platforms: linux/amd64, linux/arm64)") {
		t.Errorf("two platforms: exit %d, %s", code, stderr)
	}
	code, stdout, _ := polRun("requirements", "--only", "capabilities", "--platform", "linux/arm64", layoutDir)
	if code != 0 || stdout != "NET_BIND_SERVICE,NET_RAW\n" {
		t.Errorf("--platform linux/arm64: exit %d, %q", code, stdout)
	}
	code, _, stderr = polRun("requirements", "--platform", "linux/s390x", layoutDir)
	if code != 2 || !strings.Contains(stderr, "has no image for platform linux/s390x") {
		t.Errorf("missing platform: exit %d, %s", code, stderr)
	}
	// The same settings for every image print once.
	same := polLayout(t, filepath.Join(dir, "same"), "example.com/app:1.0",
		polImage(t, "1000", nil, "amd64", amd), polImage(t, "1000", nil, "arm64", amd))
	code, stdout, _ = polRun("requirements", "--only", "flags", same)
	if code != 0 || stdout != "--cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000\n" {
		t.Errorf("same caps per platform: exit %d, %q", code, stdout)
	}
	// Text output covers every image.
	code, stdout, _ = polRun("requirements", layoutDir)
	if code != 0 || strings.Count(stdout, "image example.com/app:1.0 linux/") != 2 || !strings.Contains(stdout, "user: root (image config sets none)") {
		t.Errorf("text: exit %d\n%s", code, stdout)
	}
}

func TestRequirementsCLIErrors(t *testing.T) {
	dir := t.TempDir()
	l := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{}, "requirements takes one PATH"},
		{[]string{l, l}, "got 2 arguments"},
		{[]string{"--only", "compose", l}, `--only "compose": choose docker, podman, flags, kubernetes or capabilities`},
		{[]string{"--only", "docker", "--json", l}, "--only and --json do not go together"},
		{[]string{"--path", "app/server", l}, `"app/server": give the absolute path inside the image`},
		{[]string{"--path", "/app/other", l}, "requirements: /app/other: no file with capabilities there in the container's filesystem (files with capabilities: /app/server); check --path"},
		{[]string{filepath.Join(dir, "missing.tar")}, "missing.tar"},
	}
	for _, tc := range tests {
		code, _, stderr := polRun(append([]string{"requirements"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("requirements %q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.stderr)
		}
	}
}

// TestRequirementsCLIOutput writes with --output what stdout would get,
// atomically, and refuses an output it cannot write before any work.
func TestRequirementsCLIOutput(t *testing.T) {
	dir := t.TempDir()
	l := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	for _, args := range [][]string{{l}, {"--json", l}, {"--only", "flags", "--user", "1000", l}} {
		code, want, stderr := polRun(append([]string{"requirements"}, args...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		out := filepath.Join(dir, "out.txt")
		code, stdout, stderr := polRun(append([]string{"requirements", "--output", out}, args...)...)
		if code != 0 || stdout != "" {
			t.Fatalf("--output %q: exit %d, stdout %q: %s", args, code, stdout, stderr)
		}
		got, err := os.ReadFile(out)
		if err != nil || string(got) != want {
			t.Errorf("--output %q wrote %q (%v), want stdout's %q", args, got, err, want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 2 {
			t.Errorf("directory holds %d entries after --output, want the layer and the output", len(ents))
		}
	}
	for _, out := range []string{dir, filepath.Join(dir, "missing", "out.txt")} {
		code, _, stderr := polRun("requirements", "--output", out, l)
		if code != 2 || !strings.Contains(stderr, "--output") {
			t.Errorf("--output %s: exit %d, %s; want 2 naming --output", out, code, stderr)
		}
	}
}
