package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Containerd is a private containerd with its CRI plugin: its own root,
// state, socket, runc root, CNI configuration and cgroup parent, and
// restrict_oom_score_adj because root may lack CAP_SYS_RESOURCE. The pod
// network is a CNI bridge without address, gateway or masquerading: the
// CRI plugin wants an eth0 with an address in the pod, and nothing on the
// host changes but the bridge, removed at the end.
type Containerd struct {
	// Dir holds the configuration, the data and the socket Sock.
	Dir, Sock string
	// Bridge is the CNI bridge's name; Cgroup the cgroup directory (in
	// every hierarchy) that the test's pods may use as their parent.
	Bridge, Cgroup string
	// Version is containerd's ("2.1.9"), Runc runc's ("runc 1.3.0").
	Version, Runc string
	RT            runtimeapi.RuntimeServiceClient
	Img           runtimeapi.ImageServiceClient
	Proc          *Proc
}

// ContainerdOptions configure StartContainerd.
type ContainerdOptions struct {
	// Name tells apart the daemons of one test process (bridge, cgroup,
	// subnet); short, lower case.
	Name string
	// PauseRef is the sandbox image, which must be among Images.
	PauseRef string
	// UnprivilegedPorts sets the CRI plugin's enable_unprivileged_ports
	// ("true", "false"); "" leaves the plugin's default.
	UnprivilegedPorts string
	// Images are docker-archive tarballs to import into the k8s.io
	// namespace; Refs are their references, each awaited in the CRI.
	Images, Refs []string
}

// containerdConfig is the daemon's configuration (version 2, which
// containerd 2.x migrates).
const containerdConfig = `version = 2
root = "{{dir}}/root"
state = "{{dir}}/state"
[grpc]
  address = "{{dir}}/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{{dir}}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{pause}}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  {{unprivPorts}}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{cnibin}}"
    conf_dir = "{{dir}}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    Root = "{{dir}}/runc"
`

const cniConf = `{
  "cniVersion": "0.4.0",
  "name": "capslayer-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": "{{bridge}}",
    "isGateway": false,
    "ipMasq": false,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.233.{{net}}.0/24"}]], "dataDir": "{{dir}}/ipam"}
  }]
}
`

var cniBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// StartContainerd starts the daemon, waits for its CRI and imports the
// images. Cleanups stop it, check that no process or mount is left under
// its directory, and remove its cgroups and the bridge; pods and
// containers must be removed by cleanups registered later.
func StartContainerd(t *testing.T, o ContainerdOptions) *Containerd {
	t.Helper()
	tools := RequireTools(t, "containerd", "containerd-shim-runc-v2", "ctr", "runc", "ip")
	cniBin := ""
	for _, d := range cniBinDirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			cniBin = d
			break
		}
	}
	if cniBin == "" {
		SkipOrFail(t, "no CNI bridge plugin in %s (Debian package containernetworking-plugins)", strings.Join(cniBinDirs, " or "))
	}
	c := &Containerd{
		Dir:    WorldDir(t),
		Bridge: fmt.Sprintf("clcri%d%s", os.Getpid()%1000000, o.Name[:1]),
		Cgroup: fmt.Sprintf("capslayer-e2e-cri-%d-%s", os.Getpid(), o.Name),
	}
	c.Sock = filepath.Join(c.Dir, "containerd.sock")
	ports := ""
	if o.UnprivilegedPorts != "" {
		ports = "enable_unprivileged_ports = " + o.UnprivilegedPorts
	}
	r := strings.NewReplacer("{{dir}}", c.Dir, "{{unprivPorts}}", ports, "{{cnibin}}", cniBin, "{{pause}}", o.PauseRef,
		"{{bridge}}", c.Bridge, "{{net}}", strconv.Itoa(os.Getpid()%200+len(o.Name)))
	if err := os.MkdirAll(filepath.Join(c.Dir, "cni"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "config.toml"), []byte(r.Replace(containerdConfig)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "cni", "10-capslayer-e2e.conflist"), []byte(r.Replace(cniConf)), 0o644); err != nil {
		t.Fatal(err)
	}

	// Cleanups run last first: stop the pods and the daemon, then check
	// that nothing is left, then remove cgroups and the bridge.
	t.Cleanup(func() {
		if out, err := runIP("link", "show", c.Bridge); err == nil {
			if _, err := runIP("link", "delete", c.Bridge); err != nil {
				t.Errorf("deleting the bridge %s: %v\n%s", c.Bridge, err, out)
			}
		}
		if out, _ := runIP("-o", "link", "show"); strings.Contains(out, "veth") && strings.Contains(out, "master "+c.Bridge) {
			t.Errorf("veth left on the bridge %s:\n%s", c.Bridge, out)
		}
	})
	t.Cleanup(func() { RemoveCgroups(t, c.Cgroup) })
	CleanUpAfter(t, c.Dir)
	c.Proc = Start(t, tools[0], "--config", filepath.Join(c.Dir, "config.toml"))
	t.Cleanup(func() { StopGracefully(t, c.Proc, 30*time.Second) })

	conn, err := grpc.NewClient("unix://"+c.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.RT, c.Img = runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, err := c.RT.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			c.Version = CleanVersion(v.RuntimeVersion)
			break
		}
		if c.Proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("containerd's CRI did not come up: %v\n%s", err, c.Proc.Result())
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Runc = runcVersion(t)
	for _, tarball := range o.Images {
		MustRun(t, "ctr", "--address", c.Sock, "--namespace", "k8s.io", "images", "import", tarball)
	}
	// The CRI plugin learns of images imported through containerd's API
	// from its events, asynchronously (containerd 2.x): wait for each.
	for _, ref := range o.Refs {
		deadline := time.Now().Add(DefaultTimeout)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
			st, err := c.Img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			cancel()
			if err == nil && st.Image != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the CRI does not see the imported image %s after %v: %v", ref, DefaultTimeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("containerd %s (%s), enable_unprivileged_ports %s, CNI plugins from %s", c.Version, c.Runc, orDefault(o.UnprivilegedPorts), cniBin)
	return c
}

func runIP(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	return string(out), err
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// CleanVersion turns "v2.1.9" or "1.6.20~ds1" into "2.1.9" / "1.6.20".
func CleanVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	for _, sep := range []string{"~", "+", "-"} {
		v, _, _ = strings.Cut(v, sep)
	}
	return v
}

func runcVersion(t *testing.T) string {
	r := MustRun(t, "runc", "--version")
	f := strings.Fields(r.Stdout)
	if len(f) < 3 {
		t.Fatalf("runc --version: %q", r.Stdout)
	}
	return "runc " + CleanVersion(f[2])
}
