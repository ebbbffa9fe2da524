package harness

import (
	"os"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// StrictEnv is the environment variable that turns missing prerequisites into
// test failures instead of skips; CI=true does the same (see internal/testenv).
const StrictEnv = testenv.StrictEnv

// SkipOrFail skips the test with the reason, or fails it in strict mode
// (CI). A skipped test leaves its engine's matrix section incomplete, so
// the section is not compared.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	matrix.Incomplete(t.Name() + " skipped")
	testenv.SkipOrFail(t, format, args...)
}

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	SkipOrFail(t, format, args...)
}

// RequireRoot skips the test unless it runs as root with the capabilities the
// tests need to create namespaces, switch users and write security.*
// extended attributes.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (run `sudo go test ./e2e/...` or tools/bazel test //e2e/...): it creates network namespaces, switches to uid 1000 and writes security.capability")
	}
	if b, err := os.ReadFile("/proc/self/uid_map"); err == nil && !strings.HasPrefix(strings.Join(strings.Fields(string(b)), " "), "0 0 4294967295") {
		skipOrFail(t, "runs in a user namespace (uid_map %q): the kernel would store namespaced (v3) file capabilities and the tests would prove nothing about a real host; run outside Bazel's sandbox (tags = [\"local\"])", strings.TrimSpace(string(b)))
	}
	st, err := ReadProcStatus("self")
	if err != nil {
		t.Fatalf("reading /proc/self/status: %v", err)
	}
	const need = 1<<CapSetuid | 1<<CapSetgid | 1<<CapSysAdmin | 1<<CapNetAdmin | 1<<CapSetfcap
	if st.CapEff&need != need {
		skipOrFail(t, "root lacks capabilities the tests need (CapEff %016x, need %016x: setuid, setgid, sys_admin, net_admin, setfcap); run on a host or in a privileged container", st.CapEff, need)
	}
}

// RequireTools skips the test unless every named tool is on PATH. It returns
// their resolved paths in order.
func RequireTools(t testing.TB, names ...string) []string {
	t.Helper()
	return testenv.RequireToolsHint(t, "Debian packages: util-linux for unshare/nsenter/setpriv, iproute2 for ip, attr for getfattr, libcap2-bin for setcap, tar, umoci, runc, podman, docker.io for dockerd/docker, containerd for containerd/ctr, uidmap for newuidmap, passwd for useradd", names...)
}
