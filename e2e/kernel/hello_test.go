package kernel

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

// hello is examples/hello, the README's first example.
var hello = harness.Binary{Env: "HELLO_BIN", Package: "./examples/hello"}

// TestHelloExample follows the README: examples/hello in a layer with
// cap_net_bind_service=ep, extracted with GNU tar and run as an
// unprivileged user (uid 65534, nobody) in a private network namespace.
// The kernel must grant it the capability, so it lists it in CapEff and
// listens on port 80. (It was capslayer's TestLayerHelloExample, a kernel
// test in a unit package.)
func TestHelloExample(t *testing.T) {
	f := newFixture(t)
	bin := hello.Path(t)
	out := filepath.Join(f.dir, "hello.tar")
	harness.MustRun(t, f.capslayer, "layer", "--binary", bin, "--path", "/app/hello", "--caps", "cap_net_bind_service=ep", "--output", out)
	root := extractGNUTar(t, f, out)
	ns := harness.NewNetNS(t)
	if got := ns.Sysctl(t, "net/ipv4/ip_unprivileged_port_start"); got != "1024" {
		t.Fatalf("ip_unprivileged_port_start = %s in the new network namespace, want 1024: port 80 would need no capability", got)
	}
	r := harness.Run(t, harness.Cmd{Args: ns.Exec("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		filepath.Join(root, "app/hello"), "-listen", addr80)})
	got := r.Output()
	if r.ExitCode != 0 || !strings.Contains(got, "CapEff: cap_net_bind_service\n") || !strings.Contains(got, "listening on "+addr80) {
		t.Errorf("hello as uid 65534:\n%s\nwant exit 0, CapEff: cap_net_bind_service and a listener on %s", r, addr80)
	}
	if !strings.Contains(got, "hello: uid 65534\n") {
		t.Errorf("hello did not run as uid 65534:\n%s", got)
	}
}
