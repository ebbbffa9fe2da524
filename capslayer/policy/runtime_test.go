package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
)

// probeSource prints the capability lines of /proc/self/status and tries
// to bind port 80; with "exec PATH" as arguments it execs PATH instead,
// standing in for a shell script or init that starts the real program.
const probeSource = `package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "exec" {
		err := syscall.Exec(os.Args[2], os.Args[2:], os.Environ())
		fmt.Println("exec:", err)
		os.Exit(127)
	}
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "CapPrm") || strings.HasPrefix(l, "CapEff") || strings.HasPrefix(l, "NoNewPrivs") {
			fmt.Println(strings.Join(strings.Fields(l), " "))
		}
	}
	l, err := net.Listen("tcp", ":80")
	if err != nil {
		fmt.Println("bind: denied")
		os.Exit(1)
	}
	l.Close()
	fmt.Println("bind: ok")
}
`

// TestRuntimeFacts runs the table of docs/policy.md ("What the runtime does
// with file capabilities") with runc: a uid 1000 process, a private network
// namespace with net.ipv4.ip_unprivileged_port_start=1024, and the
// capability sets each runtime asks runc for. It also runs the image with
// the bounding set that Requirements computes.
func TestRuntimeFacts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run runc and set security.capability")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("needs runc: ", err)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skip("needs the go command to build the probe: ", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "main.go"), []byte(probeSource), 0o644)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.21\n"), 0o644)
	rootfs := filepath.Join(dir, "bundle", "rootfs")
	for _, d := range []string{"app", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	probe := filepath.Join(rootfs, "app", "nocaps")
	build := exec.Command(goBin, "build", "-o", probe, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	if os.Getenv("HOME") == "" && os.Getenv("GOCACHE") == "" {
		// Sandboxes (Bazel) may set neither; the probe needs no module.
		build.Env = append(build.Env, "GOCACHE="+filepath.Join(dir, "gocache"), "GOPATH="+filepath.Join(dir, "gopath"))
	}
	if out, err := build.CombinedOutput(); err != nil {
		// The probe is a few lines of standard library: a failure here is
		// the environment's, not the code under test's.
		t.Skipf("cannot build the probe with %s: %v\n%s", goBin, err, out)
	}
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"server": "cap_net_bind_service=ep", "plain": "cap_net_bind_service=p", "wrap": ""}
	for name, text := range files {
		p := filepath.Join(rootfs, "app", name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if text == "" {
			continue
		}
		fc, err := caps.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Setxattr(p, caps.XattrName, fc.EncodeV2(), 0); err != nil {
			t.Skipf("cannot set security.capability on %s: %v", p, err)
		}
	}

	bundle := filepath.Join(dir, "bundle")
	spec := exec.Command(runc, "spec", "--bundle", bundle)
	if out, err := spec.CombinedOutput(); err != nil {
		t.Skipf("runc spec: %v\n%s", err, out)
	}
	base, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}

	// run starts args in a container and returns its output lines joined
	// by " | ".
	run := func(t *testing.T, args []string, bounding, permitted []string, nnp bool, portStart int) string {
		t.Helper()
		var cfg map[string]any
		if err := json.Unmarshal(base, &cfg); err != nil {
			t.Fatal(err)
		}
		withCap := func(names []string) []string {
			out := []string{}
			for _, n := range names {
				out = append(out, "CAP_"+n)
			}
			return out
		}
		proc := cfg["process"].(map[string]any)
		proc["terminal"] = false
		proc["args"] = args
		proc["user"] = map[string]any{"uid": 1000, "gid": 1000}
		proc["noNewPrivileges"] = nnp
		proc["capabilities"] = map[string]any{"bounding": withCap(bounding), "permitted": withCap(permitted), "effective": withCap(permitted)}
		linux := cfg["linux"].(map[string]any)
		linux["sysctl"] = map[string]string{"net.ipv4.ip_unprivileged_port_start": fmt.Sprint(portStart)}
		cfg["root"] = map[string]any{"path": "rootfs", "readonly": true}
		b, _ := json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("capslayer-policy-%d-%d", os.Getpid(), time.Now().UnixNano())
		cmd := exec.Command(runc, "run", "--bundle", bundle, id)
		out, _ := cmd.CombinedOutput()
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, " | ")
	}

	// runc may not be able to start containers in a sandbox (cgroups,
	// rlimits): find out once with the plainest run.
	if out := run(t, []string{"/app/nocaps"}, nil, nil, false, 0); !strings.Contains(out, "bind:") {
		t.Skipf("runc cannot run a container here: %s", out)
	}

	nbs := []string{"NET_BIND_SERVICE"}
	tests := []struct {
		name                string
		args                []string
		bounding, permitted []string
		nnp                 bool
		portStart           int
		want                []string // substrings of the output
	}{
		{"=ep, granted (Docker's shape: bounding only)", []string{"/app/server"}, nbs, nil, false, 1024, []string{"CapEff: 0000000000000400", "bind: ok"}},
		{"=ep, not granted", []string{"/app/server"}, nil, nil, false, 1024, []string{"operation not permitted"}},
		{"=p, not granted", []string{"/app/plain"}, nil, nil, false, 1024, []string{"CapPrm: 0000000000000000", "bind: denied"}},
		{"=p, granted", []string{"/app/plain"}, nbs, nil, false, 1024, []string{"CapPrm: 0000000000000400", "CapEff: 0000000000000000", "bind: denied"}},
		{"no_new_privs, bounding only", []string{"/app/server"}, nbs, nil, true, 1024, []string{"CapPrm: 0000000000000000", "NoNewPrivs: 1", "bind: denied"}},
		{"no_new_privs, permitted too", []string{"/app/server"}, nbs, nbs, true, 1024, []string{"CapEff: 0000000000000400", "bind: ok"}},
		{"no_new_privs, permitted too, through a wrapper", []string{"/app/wrap", "exec", "/app/server"}, nbs, nbs, true, 1024, []string{"CapPrm: 0000000000000000", "bind: denied"}},
		{"no capability, unprivileged ports from 0", []string{"/app/nocaps"}, nil, nil, false, 0, []string{"CapPrm: 0000000000000000", "bind: ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.args, tc.bounding, tc.permitted, tc.nnp, tc.portStart)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}

	// What Requirements prints for /app/server is enough, and dropping it
	// is not.
	fc, _ := caps.Parse(files["server"])
	raw := fc.EncodeV2()
	x, _ := caps.Decode(raw)
	r, err := Requirements(inspect.Image{Layers: []inspect.Layer{{Files: []inspect.File{{Path: "/app/server", Xattr: x, Raw: raw, ShadowedBy: -1}}}}}, RequirementsOptions{User: "1000", UserKnown: true})
	if err != nil {
		t.Fatal(err)
	}
	if out := run(t, []string{"/app/server"}, r.Capabilities, nil, false, 1024); !strings.Contains(out, "bind: ok") {
		t.Errorf("with the bounding set %v from Requirements: %s", r.Capabilities, out)
	}
	if !r.Kubernetes.AllowPrivilegeEscalation {
		t.Error("Requirements allows no_new_privs for a non-root user, which the runs above show breaks the capability")
	}
}
