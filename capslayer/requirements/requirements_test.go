package requirements

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	k8syaml "sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
	"github.com/capslayer/rules_capslayer/capslayer/runtimes"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// commandLine is argv as the report prints it.
func commandLine(t testing.TB, argv []string) string {
	t.Helper()
	line, err := quote.Command(argv...)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func scYAML(t testing.TB, sc *SecurityContext, indent int) string {
	t.Helper()
	y, err := sc.YAML(indent)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func capFile(t testing.TB, path, text string) tarfs.File {
	t.Helper()
	fc, err := caps.Parse(text)
	if err != nil {
		t.Fatalf("caps.Parse(%q): %v", text, err)
	}
	raw := fc.EncodeV2()
	x, err := caps.Decode(raw)
	if err != nil {
		t.Fatalf("caps.Decode(%x): %v", raw, err)
	}
	return tarfs.File{Path: path, Xattr: x, Raw: raw, Mode: 0o755, Type: "file", ShadowedBy: -1}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from this run (go test ./capslayer/requirements -update if the change is intended):\n%s", p, got)
	}
}

// exampleReport is an image of three layers: a shadowed file, several
// capabilities, an invalid value and a revision 3 value.
func exampleReport(t *testing.T) *inspect.Report {
	ping := capFile(t, "/usr/bin/ping", "cap_net_raw=ep")
	ping.ShadowedBy = 2
	arping := capFile(t, "/usr/bin/arping", "cap_net_raw=ep")
	server := capFile(t, "/app/server", "cap_net_bind_service=ep")
	tool := capFile(t, "/app/tool", "cap_chown,cap_dac_override,cap_kill,cap_setuid,cap_sys_admin=ep")
	bad := tarfs.File{Path: "/app/bad", Raw: []byte{0x00, 0x00, 0x00, 0x02}, Invalid: "4 bytes: a security.capability value is 12, 20 or 24 bytes", ShadowedBy: -1}
	ns := capFile(t, "/app/ns", "cap_net_bind_service=ep")
	ns.Xattr.Revision, ns.Xattr.RootID = 3, 100000
	return &inspect.Report{Origin: inspect.Origin{Source: "testdata/example-layout", Kind: inspect.KindOCILayout}, Images: []inspect.Image{{
		Name: "example.com/app:1.0", Digest: "sha256:" + strings.Repeat("d", 64), Platform: "linux/amd64",
		Layers: []tarfs.Layer{
			{Index: 0, Files: []tarfs.File{ping, arping}},
			{Index: 1, Files: []tarfs.File{server, tool, bad}},
			{Index: 2, Files: []tarfs.File{ns}},
		},
	}}}
}

func runtimeOf(t *testing.T, r *Result, target Target) Runtime {
	t.Helper()
	rt, ok := r.Runtime(target)
	if !ok {
		t.Fatalf("no advice for %s", target)
	}
	return rt
}

func image(files ...tarfs.File) inspect.Image {
	return inspect.Image{Name: "example.com/app:1.0", Platform: "linux/amd64", Layers: []tarfs.Layer{{Index: 0, Files: files}}}
}

func TestCompute(t *testing.T) {
	server := capFile(t, "/app/server", "cap_net_bind_service=ep")
	helper := capFile(t, "/app/helper", "cap_net_bind_service=ep")
	admin := capFile(t, "/app/server", "cap_sys_admin,cap_net_bind_service=ep")
	chown := capFile(t, "/app/server", "cap_chown=ep")
	promote := capFile(t, "/app/server", "cap_net_bind_service=p")
	inh := capFile(t, "/app/server", "cap_net_bind_service=p cap_kill=i")
	shadowed := capFile(t, "/usr/bin/ping", "cap_net_raw=ep")
	shadowed.ShadowedBy = 1
	nonRoot := Options{ContainerUser: ContainerUser{User: "1000", UserKnown: true, UserSource: "image config"}, ImageRef: "example.com/app:1.0"}
	tests := []struct {
		name     string
		img      inspect.Image
		opts     Options
		caps     string
		docker   string
		level    runtimes.PSSLevel
		warnings []string // substrings, one per warning, in order
		notes    []string
	}{
		{
			name: "one file", img: image(server, shadowed), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			level:    runtimes.Restricted,
			warnings: []string{`/app/server: cap_net_bind_service=ep: if the runtime does not grant NET_BIND_SERVICE, exec fails with "operation not permitted"`},
			notes:    []string{"not counted, not in the container's filesystem: /usr/bin/ping (layer 0, replaced or deleted by layer 1)"},
		},
		{
			name: "two files", img: image(server, helper), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			level:    runtimes.Restricted,
			warnings: []string{"/app/helper: ", "/app/server: "},
		},
		{
			name: "one path of two", img: image(server, helper), opts: func() Options { o := nonRoot; o.Paths = []string{"/app/server"}; return o }(),
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			level:    runtimes.Restricted,
			warnings: []string{"/app/server: "},
		},
		{
			name: "lone layer", img: inspect.Image{Layers: []tarfs.Layer{{Files: []tarfs.File{server}}}}, opts: Options{},
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE IMAGE",
			level:    runtimes.Restricted,
			warnings: []string{"/app/server: ", "no user is known"},
		},
		{
			name: "root", img: image(server), opts: Options{ContainerUser: ContainerUser{UserKnown: true, UserSource: "image config"}},
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE example.com/app:1.0",
			level:    runtimes.Baseline,
			warnings: []string{"/app/server: ", "the image runs as root"},
		},
		{
			name: "baseline", img: image(chown), opts: nonRoot,
			caps: "CHOWN", docker: "docker run --cap-drop ALL --cap-add CHOWN --user 1000 example.com/app:1.0",
			level:    runtimes.Baseline,
			warnings: []string{"/app/server: "},
		},
		{
			name: "beyond baseline", img: image(admin), opts: nonRoot,
			caps: "NET_BIND_SERVICE,SYS_ADMIN", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --cap-add SYS_ADMIN --user 1000 example.com/app:1.0",
			level:    runtimes.Privileged,
			warnings: []string{"if the runtime does not grant NET_BIND_SERVICE, SYS_ADMIN"},
		},
		{
			name: "no capabilities", img: image(shadowed), opts: nonRoot,
			caps: "", docker: "docker run --cap-drop ALL --user 1000 example.com/app:1.0",
			level: runtimes.Restricted,
			notes: []string{"not counted", "the container needs none"},
		},
		{
			name: "permitted only", img: image(promote), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			level: runtimes.Restricted,
			notes: []string{"/app/server: cap_net_bind_service=p has no effective bit: the program must raise NET_BIND_SERVICE itself"},
		},
		{
			name: "inheritable bits are not added", img: image(inh), opts: nonRoot,
			caps: "NET_BIND_SERVICE", docker: "docker run --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 example.com/app:1.0",
			level: runtimes.Restricted,
			notes: []string{"has no effective bit", "KILL only in inheritable sets"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compute(tc.img, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.Capabilities.DockerNames(), ","); got != tc.caps {
				t.Errorf("Capabilities = %s, want %s", got, tc.caps)
			}
			var targets []Target
			for _, rt := range r.Runtimes {
				targets = append(targets, rt.Target)
			}
			if strings.Join(strings.Fields(strings.Trim(strings.Join(toStrings(targets), " "), " ")), " ") != "docker podman kubernetes-containerd kubernetes-cri-o" {
				t.Errorf("targets = %v", targets)
			}
			docker, podman := runtimeOf(t, r, Docker), runtimeOf(t, r, Podman)
			if got := commandLine(t, docker.Command); got != tc.docker {
				t.Errorf("docker = %s\nwant %s", got, tc.docker)
			}
			if got, want := commandLine(t, docker.RunFlags), strings.TrimSuffix(strings.TrimPrefix(tc.docker, "docker run "), " "+docker.Command[len(docker.Command)-1]); got != want {
				t.Errorf("run flags = %s, want %s", got, want)
			}
			if got, want := commandLine(t, podman.Command), "podman"+strings.TrimPrefix(tc.docker, "docker"); got != want {
				t.Errorf("podman = %s\nwant %s", got, want)
			}
			if docker.NoNewPrivs || podman.NoNewPrivs {
				t.Error("docker or podman advice sets no_new_privs, which e2e/docker measured to lose the file capabilities")
			}
			for _, target := range []Target{KubernetesContainerd, KubernetesCRIO} {
				k := runtimeOf(t, r, target)
				if k.SecurityContext == nil || k.SecurityContext.AllowPrivilegeEscalation || !k.NoNewPrivs {
					t.Errorf("%s: want allowPrivilegeEscalation: false (measured to work on containerd): %+v", target, k.SecurityContext)
					continue
				}
				if got := strings.Join(k.SecurityContext.Capabilities.Add, ","); got != tc.caps {
					t.Errorf("%s: securityContext add = %s, want %s", target, got, tc.caps)
				}
				if k.PodSecurityLevel != tc.level {
					t.Errorf("%s: level = %s (%s), want %s", target, k.PodSecurityLevel, k.PodSecurityReason, tc.level)
				}
				if (k.PodSecurityLevel == runtimes.Restricted) != (k.PodSecurityReason == "") {
					t.Errorf("%s: level %s with reason %q", target, k.PodSecurityLevel, k.PodSecurityReason)
				}
			}
			if k := runtimeOf(t, r, KubernetesCRIO); k.Measured || !strings.Contains(k.Evidence, "not measured") {
				t.Errorf("CRI-O advice claims a measurement: %+v", k)
			}
			checkList(t, "warnings", warningTexts(r.Warnings), tc.warnings)
			checkList(t, "notes", r.Notes, tc.notes)
		})
	}
}

func toStrings(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t))
	}
	return out
}

func warningTexts(ws []Warning) []string {
	var texts []string
	for _, w := range ws {
		texts = append(texts, w.Text)
	}
	return texts
}

// TestWarningKinds checks that each warning says what it is about, and
// that the library's words name no flag: the CLI adds "pass --user UID"
// to WarnUserUnknown.
func TestWarningKinds(t *testing.T) {
	lone, err := Compute(image(capFile(t, "/app/server", "cap_net_bind_service=ep")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := Compute(image(capFile(t, "/app/server", "cap_net_bind_service=ep")), Options{ContainerUser: ContainerUser{UserKnown: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    *Result
		want []WarningKind
	}{
		{lone, []WarningKind{WarnNotGranted, WarnUserUnknown}},
		{root, []WarningKind{WarnNotGranted, WarnRoot}},
	} {
		var got []WarningKind
		for _, w := range c.r.Warnings {
			got = append(got, w.Kind)
			if strings.Contains(w.Text, "--") {
				t.Errorf("warning %q names a flag", w.Text)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("warning kinds = %q, want %q", got, c.want)
		}
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

// TestCaveats checks which caveats each target carries: the port caveats
// only with NET_BIND_SERVICE, the no_new_privs ones only for a non-root
// user who needs capabilities.
func TestCaveats(t *testing.T) {
	nonRoot := Options{ContainerUser: ContainerUser{User: "1000", UserKnown: true}}
	for _, tc := range []struct {
		name  string
		file  string
		opts  Options
		want  map[Target][]string
		avoid []string
	}{
		{"net_bind_service", "cap_net_bind_service=ep", nonRoot, map[Target][]string{
			Docker:               {"no-new-privileges", "ip_unprivileged_port_start=0"},
			Podman:               {"ambient", "rootless"},
			KubernetesContainerd: {"allowPrivilegeEscalation: false works", "wrapper", "enable_unprivileged_ports"},
			KubernetesCRIO:       {"SpecSetupCapabilities", "cri-o#10050"},
		}, nil},
		{"net_raw", "cap_net_raw=ep", nonRoot, map[Target][]string{
			Docker:               {"no-new-privileges"},
			Podman:               {"ambient", "rootless"},
			KubernetesContainerd: {"allowPrivilegeEscalation: false works", "wrapper"},
			KubernetesCRIO:       {"SpecSetupCapabilities"},
		}, []string{"ip_unprivileged_port_start", "enable_unprivileged_ports"}},
		{"root", "cap_net_raw=ep", Options{ContainerUser: ContainerUser{UserKnown: true}}, map[Target][]string{
			KubernetesContainerd: {"allowPrivilegeEscalation: false works", "wrapper"},
			KubernetesCRIO:       {"SpecSetupCapabilities"},
		}, []string{"no-new-privileges", "ambient"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compute(image(capFile(t, "/app/server", tc.file)), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, rt := range r.Runtimes {
				text := strings.Join(rt.Caveats, "\n")
				for _, w := range tc.want[rt.Target] {
					if !strings.Contains(text, w) {
						t.Errorf("%s caveats lack %q:\n%s", rt.Target, w, text)
					}
				}
				if len(tc.want[rt.Target]) != len(rt.Caveats) {
					t.Errorf("%s: %d caveats, want %d:\n%s", rt.Target, len(rt.Caveats), len(tc.want[rt.Target]), text)
				}
				for _, a := range tc.avoid {
					if strings.Contains(text, a) {
						t.Errorf("%s caveats mention %q:\n%s", rt.Target, a, text)
					}
				}
			}
		})
	}
}

func TestComputeUsers(t *testing.T) {
	img := image(capFile(t, "/app/server", "cap_net_bind_service=ep"))
	tests := []struct {
		user, yaml, flag string
	}{
		{"1000:2000", "    runAsNonRoot: true\n    runAsUser: 1000\n    runAsGroup: 2000\n    allowPrivilegeEscalation: false\n", "--user 1000:2000"},
		{"app", "  # the image runs as user app: set runAsUser to its numeric uid, or the kubelet cannot check runAsNonRoot\n", "--user app"},
		{"root", "  # the image runs as root: runAsNonRoot: true would keep it from starting\n", "--user root"},
		{"0:0", "  # the image runs as root", "--user 0:0"},
		{"", "  # the image runs as root", ""},
	}
	for _, tc := range tests {
		r, err := Compute(img, Options{ContainerUser: ContainerUser{User: tc.user, UserKnown: true}})
		if err != nil {
			t.Fatal(err)
		}
		y := scYAML(t, runtimeOf(t, r, KubernetesContainerd).SecurityContext, 2)
		if !strings.Contains(y, tc.yaml) {
			t.Errorf("user %s: YAML =\n%s\nwant it to contain\n%s", tc.user, y, tc.yaml)
		}
		line := commandLine(t, runtimeOf(t, r, Docker).Command)
		if tc.flag != "" && !strings.Contains(line, tc.flag+" example.com/app:1.0") || tc.flag == "" && strings.Contains(line, "--user") {
			t.Errorf("user %s: docker = %s, want %q", tc.user, line, tc.flag)
		}
	}
}

func TestComputePaths(t *testing.T) {
	img := image(capFile(t, "/app/server", "cap_net_bind_service=ep"), capFile(t, "/usr/bin/ping", "cap_net_raw=ep"))
	r, err := Compute(img, Options{Paths: []string{"/usr/bin/ping"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 1 || strings.Join(r.Capabilities.DockerNames(), ",") != "NET_RAW" {
		t.Errorf("files %v caps %v", r.Files, r.Capabilities)
	}
	_, err = Compute(img, Options{Paths: []string{"/app/nope"}})
	var pe *PathError
	if !errors.As(err, &pe) || pe.Path != "/app/nope" || strings.Join(pe.Have, ",") != "/app/server,/usr/bin/ping" {
		t.Errorf("error = %#v, want a PathError naming /app/nope and the files", err)
	}
	_, err = Compute(image(), Options{Paths: []string{"/app/nope"}})
	if !errors.As(err, &pe) || len(pe.Have) != 0 || !strings.Contains(err.Error(), "no file in the container's filesystem has capabilities") {
		t.Errorf("error = %v", err)
	}
}

func TestGolden(t *testing.T) {
	rep := exampleReport(t)
	rr := &Report{Origin: rep.Origin}
	for _, img := range rep.Images {
		r, err := Compute(img, Options{ContainerUser: ContainerUser{User: "1000", UserKnown: true, UserSource: "image config"}, ImageRef: img.Name})
		if err != nil {
			t.Fatal(err)
		}
		rr.Images = append(rr.Images, r)
	}
	server, err := Compute(image(capFile(t, "/app/server", "cap_net_bind_service=ep")), Options{ContainerUser: ContainerUser{User: "1000", UserKnown: true, UserSource: "image config"}, ImageRef: "capslayer/server:latest"})
	if err != nil {
		t.Fatal(err)
	}
	lone, err := Compute(inspect.Image{Layers: []tarfs.Layer{{Files: []tarfs.File{capFile(t, "/app/server", "cap_net_bind_service=ep")}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text, js, serverText, loneText bytes.Buffer
	if err := rr.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rr.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := (&Report{Origin: inspect.Origin{Source: "server.tar", Kind: "docker-archive"}, Images: []*Result{server}}).WriteText(&serverText); err != nil {
		t.Fatal(err)
	}
	if err := (&Report{Origin: inspect.Origin{Source: "layer.tar", Kind: "layer"}, Images: []*Result{lone}}).WriteText(&loneText); err != nil {
		t.Fatal(err)
	}
	golden(t, "requirements.txt", text.Bytes())
	golden(t, "requirements.json", js.Bytes())
	golden(t, "requirements-server.txt", serverText.Bytes())
	golden(t, "requirements-layer.txt", loneText.Bytes())
	// One idea per line: no paragraph.
	for _, b := range [][]byte{text.Bytes(), serverText.Bytes(), loneText.Bytes()} {
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) > 200 {
				t.Errorf("line of %d characters:\n%s", len(line), line)
			}
		}
	}
}

// TestCommandLineShell runs the printed lines through a real shell and
// checks that it splits them back into the same argv.
func TestCommandLineShell(t *testing.T) {
	sh := testenv.RequireTools(t, "sh")[0]
	argv := []string{"docker", "run", "--cap-drop", "ALL", "--user", "app user", "it's", "$HOME", "a\"b", "", "reg.example:5000/app:1.0@sha256:ab"}
	line := commandLine(t, argv)
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

// TestSecurityContextYAML parses the YAML with the parser Kubernetes reads
// manifests with (sigs.k8s.io/yaml, as kubectl and client-go) and compares
// it with the JSON form of the same securityContext. It needs no tool, so it
// runs the same under go test and bazel test.
func TestSecurityContextYAML(t *testing.T) {
	for _, user := range []string{"1000:2000", "app", "", "root"} {
		r, err := Compute(image(capFile(t, "/app/server", "cap_net_bind_service,cap_chown=ep")), Options{ContainerUser: ContainerUser{User: user, UserKnown: user != ""}})
		if err != nil {
			t.Fatal(err)
		}
		sc := runtimeOf(t, r, KubernetesContainerd).SecurityContext
		y := scYAML(t, sc, 0)
		var doc struct {
			SecurityContext json.RawMessage `json:"securityContext"`
		}
		if err := k8syaml.UnmarshalStrict([]byte(y), &doc); err != nil {
			t.Fatalf("user %q: %v\n%s", user, err, y)
		}
		got := []byte(doc.SecurityContext)
		want, _ := json.Marshal(sc)
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil || a == nil {
			t.Fatalf("user %q: no securityContext in the YAML (%v):\n%s", user, err, y)
		}
		json.Unmarshal(want, &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if !bytes.Equal(ga, gb) {
			t.Errorf("user %q: YAML parses to %s, JSON is %s", user, ga, gb)
		}
	}
}
