package runc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/requirements"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

// TestRuntimeFacts runs the table of docs/policy.md ("What the runtime does
// with file capabilities") with runc: a uid 1000 probe, a network namespace
// with net.ipv4.ip_unprivileged_port_start set per case, and the
// capability sets each engine asks runc for (Docker: bounding set only;
// containerd's CRI: bounding, effective and permitted). Then it runs the
// settings package requirements advises for Docker and for Kubernetes on
// containerd. (It was policy's runtime_test.go; a root-and-runc test
// belongs here.)
func TestRuntimeFacts(t *testing.T) {
	harness.RequireRoot(t)
	runcBin := harness.RequireTools(t, "runc")[0]
	probe := harness.Probe.Path(t)
	harness.RequireStatic(t, probe)
	dir := harness.WorldDir(t)
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"app", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"server": "cap_net_bind_service=ep", "plain": "cap_net_bind_service=p", "wrap": "", "nocaps": ""}
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
			t.Fatalf("setting security.capability on %s: %v", p, err)
		}
	}
	harness.MustRun(t, runcBin, "spec", "--bundle", bundle)
	base, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "runc-state")
	seq := 0

	// run starts args in a container and returns the probe's output.
	run := func(t *testing.T, args []string, bounding, permitted []string, nnp bool, portStart int) (harness.ProbeOutput, harness.Result) {
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
		seq++
		id := fmt.Sprintf("capslayer-facts-%d-%d", os.Getpid(), seq)
		r := harness.Run(t, harness.Cmd{Args: []string{runcBin, "--root", state, "run", "--bundle", bundle, id}})
		return harness.ParseProbe(r.Stdout), r
	}

	nbs := []string{"NET_BIND_SERVICE"}
	const nb = 0x400
	tests := []struct {
		name                string
		args                []string
		bounding, permitted []string
		nnp                 bool
		portStart           int
		ran                 bool
		prm                 uint64
		bind                bool
	}{
		{"=ep, granted (Docker's shape: bounding only)", []string{"/app/server"}, nbs, nil, false, 1024, true, nb, true},
		{"=ep, not granted", []string{"/app/server"}, nil, nil, false, 1024, false, 0, false},
		{"=p, not granted", []string{"/app/plain"}, nil, nil, false, 1024, true, 0, false},
		{"=p, granted", []string{"/app/plain"}, nbs, nil, false, 1024, true, nb, false},
		{"no_new_privs, bounding only (Docker)", []string{"/app/server"}, nbs, nil, true, 1024, true, 0, false},
		{"no_new_privs, permitted too (containerd CRI)", []string{"/app/server"}, nbs, nbs, true, 1024, true, nb, true},
		{"no_new_privs, permitted too, through a wrapper", []string{"/app/wrap", "-exec", "/app/server"}, nbs, nbs, true, 1024, true, 0, false},
		{"no capability, unprivileged ports from 0", []string{"/app/nocaps"}, nil, nil, false, 0, true, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, r := run(t, tc.args, tc.bounding, tc.permitted, tc.nnp, tc.portStart)
			if !tc.ran {
				if got.Ran || !strings.Contains(r.Output(), "operation not permitted") {
					t.Errorf("want exec to fail with operation not permitted:\n%s", r)
				}
				return
			}
			if !got.Ran {
				t.Fatalf("the probe did not run:\n%s", r)
			}
			if got.Status.CapPrm != tc.prm || got.Status.NoNewPrivs != tc.nnp || (got.Bind == "ok") != tc.bind {
				t.Errorf("%v, bind: %s; want CapPrm %x, NoNewPrivs %t, bound %t", got.Status, got.Bind, tc.prm, tc.nnp, tc.bind)
			}
		})
	}

	// What requirements advises is enough: Docker's run flags as the
	// bounding set without no_new_privs, and the Kubernetes
	// securityContext as containerd applies it (no_new_privs, the
	// capabilities in bounding and permitted).
	fc, _ := caps.Parse(files["server"])
	raw := fc.EncodeV2()
	x, _ := caps.Decode(raw)
	res, err := requirements.Compute(inspect.Image{Layers: []tarfs.Layer{{Files: []tarfs.File{{Path: "/app/server", Xattr: x, Raw: raw, ShadowedBy: -1}}}}}, requirements.Options{ContainerUser: requirements.ContainerUser{User: "1000", UserKnown: true}})
	if err != nil {
		t.Fatal(err)
	}
	docker, _ := res.Runtime(requirements.Docker)
	if got, _ := run(t, []string{"/app/server"}, res.Capabilities.DockerNames(), nil, docker.NoNewPrivs, 1024); got.Bind != "ok" {
		t.Errorf("Docker's shape with the capabilities %v (no_new_privs %t): %+v", res.Capabilities, docker.NoNewPrivs, got)
	}
	k8s, _ := res.Runtime(requirements.KubernetesContainerd)
	add := k8s.SecurityContext.Capabilities.Add
	if got, _ := run(t, []string{"/app/server"}, add, add, k8s.NoNewPrivs, 1024); got.Bind != "ok" {
		t.Errorf("containerd's shape with add %v (no_new_privs %t): %+v", add, k8s.NoNewPrivs, got)
	}
}
