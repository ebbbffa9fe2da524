package policy

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

func image(files ...inspect.File) inspect.Image {
	return inspect.Image{Name: "example.com/app:1.0", Platform: "linux/amd64", Layers: []inspect.Layer{{Index: 0, Files: files}}}
}

func TestRequirements(t *testing.T) {
	server := capFile(t, "/app/server", "cap_net_bind_service=ep")
	helper := capFile(t, "/app/helper", "cap_net_bind_service=ep")
	admin := capFile(t, "/app/server", "cap_sys_admin,cap_net_bind_service=ep")
	promote := capFile(t, "/app/server", "cap_net_bind_service=p")
	inh := capFile(t, "/app/server", "cap_net_bind_service=p cap_kill=i")
	shadowed := capFile(t, "/usr/bin/ping", "cap_net_raw=ep")
	shadowed.ShadowedBy = 1
	nonRoot := RequirementsOptions{User: "1000", UserKnown: true, UserSource: "image config", ImageRef: "example.com/app:1.0"}
	tests := []struct {
		name     string
		img      inspect.Image
		opts     RequirementsOptions
		caps     string
		docker   string
		ape      bool
		level    string
		warnings []string // substrings, one per warning, in order
		notes    []string
	}{
		{
			name: "one file", img: image(server, shadowed), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			ape: true, level: PSSBaseline,
			warnings: []string{"/app/server has the effective bit (cap_net_bind_service=ep): if the container's bounding set lacks NET_BIND_SERVICE", "do not set no_new_privs", "net.ipv4.ip_unprivileged_port_start=1024"},
			notes:    []string{"podman also gives --cap-add", "not counted, not in the container's filesystem: /usr/bin/ping (layer 0, replaced or deleted by layer 1)"},
		},
		{
			name: "two files", img: image(server, helper), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			ape: true, level: PSSBaseline,
			warnings: []string{"/app/helper has the effective bit", "/app/server has the effective bit", "do not set no_new_privs", "ip_unprivileged_port_start"},
			notes:    []string{"podman"},
		},
		{
			name: "one path of two", img: image(server, helper), opts: func() RequirementsOptions { o := nonRoot; o.Paths = []string{"/app/server"}; return o }(),
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			ape: true, level: PSSBaseline,
			warnings: []string{"/app/server has the effective bit", "do not set no_new_privs", "ip_unprivileged_port_start"},
			notes:    []string{"podman"},
		},
		{
			name: "lone layer", img: inspect.Image{Layers: []inspect.Layer{{Files: []inspect.File{server}}}}, opts: RequirementsOptions{},
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE",
			ape: true, level: PSSBaseline,
			warnings: []string{"effective bit", "do not set no_new_privs", "ip_unprivileged_port_start", "no user is known"},
			notes:    []string{"podman"},
		},
		{
			name: "root", img: image(server), opts: RequirementsOptions{UserKnown: true, UserSource: "image config"},
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE",
			ape: false, level: PSSBaseline,
			warnings: []string{"effective bit", "ip_unprivileged_port_start", "the image runs as root"},
		},
		{
			name: "beyond baseline", img: image(admin), opts: nonRoot,
			caps: "NET_BIND_SERVICE,SYS_ADMIN", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --cap-add SYS_ADMIN --user 1000 example.com/app:1.0",
			ape: true, level: PSSPrivileged,
			warnings: []string{"if the container's bounding set lacks any of NET_BIND_SERVICE, SYS_ADMIN", "do not set no_new_privs", "ip_unprivileged_port_start"},
			notes:    []string{"podman"},
		},
		{
			name: "no capabilities", img: image(shadowed), opts: nonRoot,
			caps: "", docker: "docker run --cap-drop ALL --user 1000 example.com/app:1.0",
			ape: false, level: PSSRestricted,
			notes: []string{"not counted", "the container needs none"},
		},
		{
			name: "permitted only", img: image(promote), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			ape: true, level: PSSBaseline,
			warnings: []string{"do not set no_new_privs", "ip_unprivileged_port_start"},
			notes:    []string{"has no effective bit (cap_net_bind_service=p): exec succeeds even when the runtime does not grant NET_BIND_SERVICE", "podman"},
		},
		{
			name: "inheritable bits are not added", img: image(inh), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			ape: true, level: PSSBaseline,
			warnings: []string{"do not set no_new_privs", "ip_unprivileged_port_start"},
			notes:    []string{"has no effective bit", "podman", "KILL only in inheritable sets"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Requirements(tc.img, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.Capabilities, ","); got != tc.caps {
				t.Errorf("Capabilities = %s, want %s", got, tc.caps)
			}
			if got := CommandLine(r.Docker); got != tc.docker {
				t.Errorf("docker = %s\nwant %s", got, tc.docker)
			}
			if got, want := CommandLine(r.Podman), "podman"+strings.TrimPrefix(tc.docker, "docker"); got != want {
				t.Errorf("podman = %s\nwant %s", got, want)
			}
			if r.Kubernetes.AllowPrivilegeEscalation != tc.ape {
				t.Errorf("allowPrivilegeEscalation = %v, want %v", r.Kubernetes.AllowPrivilegeEscalation, tc.ape)
			}
			if got := strings.Join(r.Kubernetes.Capabilities.Add, ","); got != tc.caps {
				t.Errorf("securityContext add = %s, want %s", got, tc.caps)
			}
			if r.PodSecurityLevel != tc.level {
				t.Errorf("level = %s (%s), want %s", r.PodSecurityLevel, r.PodSecurityReason, tc.level)
			}
			checkList(t, "warnings", r.Warnings, tc.warnings)
			checkList(t, "notes", r.Notes, tc.notes)
		})
	}
}

func checkList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %d:\n  %s\nwant %d: %q", what, len(got), strings.Join(got, "\n  "), len(want), want)
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s[%d] = %q, want it to contain %q", what, i, got[i], want[i])
		}
	}
}

func TestRequirementsUsers(t *testing.T) {
	img := image(capFile(t, "/app/server", "cap_net_bind_service=ep"))
	tests := []struct {
		user, yaml, flag string
	}{
		{"1000:2000", "    runAsNonRoot: true\n    runAsUser: 1000\n    runAsGroup: 2000\n    allowPrivilegeEscalation: true\n", "--user 1000:2000"},
		{"app", "  # the image runs as user \"app\": set runAsUser to its numeric uid, or the kubelet cannot check runAsNonRoot\n", "--user app"},
		{"root", "  # the image runs as root: runAsNonRoot: true would keep it from starting\n", "--user root"},
		{"0:0", "  # the image runs as root", "--user 0:0"},
		{"", "  # the image runs as root", ""},
	}
	for _, tc := range tests {
		r, err := Requirements(img, RequirementsOptions{User: tc.user, UserKnown: true})
		if err != nil {
			t.Fatal(err)
		}
		y := r.Kubernetes.YAML(2)
		if !strings.Contains(y, tc.yaml) {
			t.Errorf("user %s: YAML =\n%s\nwant it to contain\n%s", tc.user, y, tc.yaml)
		}
		line := CommandLine(r.Docker)
		if tc.flag != "" && !strings.Contains(line, tc.flag+" IMAGE") || tc.flag == "" && strings.Contains(line, "--user") {
			t.Errorf("user %s: docker = %s, want %q", tc.user, line, tc.flag)
		}
	}
}

func TestRequirementsPaths(t *testing.T) {
	img := image(capFile(t, "/app/server", "cap_net_bind_service=ep"), capFile(t, "/usr/bin/ping", "cap_net_raw=ep"))
	r, err := Requirements(img, RequirementsOptions{Paths: []string{"/usr/bin/ping"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 1 || strings.Join(r.Capabilities, ",") != "NET_RAW" {
		t.Errorf("files %v caps %v", r.Files, r.Capabilities)
	}
	_, err = Requirements(img, RequirementsOptions{Paths: []string{"/app/nope"}})
	if err == nil || !strings.Contains(err.Error(), "--path /app/nope: no file with capabilities there in the container's filesystem (files with capabilities: /app/server, /usr/bin/ping)") {
		t.Errorf("error = %v", err)
	}
	_, err = Requirements(image(), RequirementsOptions{Paths: []string{"/app/nope"}})
	if err == nil || !strings.Contains(err.Error(), "no file in the container's filesystem has capabilities") {
		t.Errorf("error = %v", err)
	}
}

func TestRequirementsGolden(t *testing.T) {
	rep := exampleReport(t)
	rr := &RequirementsReport{Source: rep.Source, Kind: rep.Kind}
	for _, img := range rep.Images {
		r, err := Requirements(img, RequirementsOptions{User: "1000", UserKnown: true, UserSource: "image config", ImageRef: img.Name})
		if err != nil {
			t.Fatal(err)
		}
		rr.Images = append(rr.Images, r)
	}
	lone, err := Requirements(inspect.Image{Layers: []inspect.Layer{{Files: []inspect.File{capFile(t, "/app/server", "cap_net_bind_service=ep")}}}}, RequirementsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var text, js, loneText bytes.Buffer
	if err := rr.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rr.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := (&RequirementsReport{Source: "layer.tar", Kind: "layer", Images: []*Requirement{lone}}).WriteText(&loneText); err != nil {
		t.Fatal(err)
	}
	golden(t, "requirements.txt", text.Bytes())
	golden(t, "requirements.json", js.Bytes())
	golden(t, "requirements-layer.txt", loneText.Bytes())
}

// TestCommandLineShell runs the printed lines through a real shell and
// checks that it splits them back into the same argv.
func TestCommandLineShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh: ", err)
	}
	argv := []string{"docker", "run", "--cap-drop", "ALL", "--user", "app user", "it's", "$HOME", "a\"b", "", "reg.example:5000/app:1.0@sha256:ab"}
	line := CommandLine(argv)
	got, err := exec.Command(sh, "-c", "set -- "+line+`; for a in "$@"; do printf '[%s]\n' "$a"; done`).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	var want strings.Builder
	for _, a := range argv {
		want.WriteString("[" + a + "]\n")
	}
	if string(got) != want.String() {
		t.Errorf("sh split %q into\n%s\nwant\n%s", line, got, want.String())
	}
}

// TestSecurityContextYAML parses the YAML with a real YAML parser (PyYAML)
// and compares it with the JSON form of the same securityContext.
func TestSecurityContextYAML(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3: ", err)
	}
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		t.Skip("python3 has no yaml module (apt-get install python3-yaml)")
	}
	for _, user := range []string{"1000:2000", "app", "", "root"} {
		r, err := Requirements(image(capFile(t, "/app/server", "cap_net_bind_service,cap_chown=ep")), RequirementsOptions{User: user, UserKnown: user != ""})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin)['securityContext'], sys.stdout, sort_keys=True)")
		cmd.Stdin = strings.NewReader(r.Kubernetes.YAML(0))
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3 yaml: %v", err)
		}
		want, _ := json.Marshal(r.Kubernetes)
		var a, b any
		json.Unmarshal(got, &a)
		json.Unmarshal(want, &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if !bytes.Equal(ga, gb) {
			t.Errorf("user %q: YAML parses to %s, JSON is %s", user, ga, gb)
		}
	}
}
