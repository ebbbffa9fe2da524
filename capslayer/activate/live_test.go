//go:build linux

package activate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/internal/testenv"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// childEnv makes the test binary act as the program under test (see
// TestMain) instead of running tests.
const childEnv = "ACTIVATE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// childResult is what the child reports on stdout, as JSON.
type childResult struct {
	// Report is Diagnose().String() before Raise.
	Report string
	// BindBefore is the error of binding 127.0.0.1:80 before Raise.
	BindBefore string
	// CheckErr and RaiseErr are the errors of Check and Raise.
	CheckErr, RaiseErr string
	// Causes are the causes of the *Error Raise returned.
	Causes []Cause
	// Threads are the Cap* lines of every thread after Raise.
	Threads []string
	// Bound is the address bound after Raise, BindErr the error.
	Bound, BindErr string
	// Served is what a client read back through the bound socket.
	Served string
}

// child raises cap_net_bind_service and binds 127.0.0.1:80, like a server
// built with this package. It must run in a private network namespace.
func child() int {
	var res childResult
	res.Report = Diagnose().String()
	if l, err := net.Listen("tcp4", "127.0.0.1:80"); err != nil {
		res.BindBefore = err.Error()
	} else {
		l.Close()
	}

	// Park goroutines on locked OS threads so that the process surely has
	// several threads, all of which Raise must change.
	release := make(chan struct{})
	defer close(release)
	for i := 0; i < 4; i++ {
		started := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(started)
			<-release
		}()
		<-started
	}

	if err := Check(cap.NET_BIND_SERVICE); err != nil {
		res.CheckErr = err.Error()
	}
	if err := Raise(cap.NET_BIND_SERVICE); err != nil {
		res.RaiseErr = err.Error()
		var e *Error
		if errors.As(err, &e) {
			res.Causes = e.Causes
		}
	} else {
		res.Threads = threadCaps()
		serve(&res)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 3
	}
	return 0
}

func serve(res *childResult) {
	l, err := net.Listen("tcp4", "127.0.0.1:80")
	if err != nil {
		res.BindErr = err.Error()
		return
	}
	defer l.Close()
	res.Bound = l.Addr().String()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.WriteString(c, "hello from :80")
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp4", res.Bound, 5*time.Second)
	if err != nil {
		res.BindErr = "dial: " + err.Error()
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	res.Served = string(b)
}

// threadCaps returns the Cap* lines of every thread of the process, one
// string per thread.
func threadCaps() []string {
	dirs, _ := filepath.Glob("/proc/self/task/*/status")
	var out []string
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		out = append(out, capLines(string(b)))
	}
	sort.Strings(out)
	return out
}

// capLines returns the Cap* lines of a status file as
// "CapInh=... CapPrm=... CapEff=... CapBnd=... CapAmb=...".
func capLines(status string) string {
	var f []string
	for _, l := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Cap") {
			f = append(f, k+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(f, " ")
}

// run describes one start of the child.
type run struct {
	// fileCaps is the setcap text for the copy of the binary; "" leaves it
	// without the xattr.
	fileCaps string
	// rootid writes v3 file capabilities for this user namespace root
	// (setcap -n).
	rootid int
	// setpriv is the command line that starts the binary, which it gets
	// as last argument; empty runs it as root.
	setpriv []string
	// nosuid puts the binary on a tmpfs mounted nosuid.
	nosuid bool
}

// Drop to uid 1000 with nothing inherited, the way a runtime starts a
// non-root container process.
var asUser = []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--inh-caps=-all"}

// startChild copies the test binary into a directory uid 1000 can read, gives
// it r.fileCaps, and runs it in a private network namespace as r.setpriv
// says. It returns the child's result, or its stderr when it did not report.
func startChild(t *testing.T, r run) (childResult, string) {
	t.Helper()
	requireRoot(t, "unshare", "setpriv", "setcap", "ip", "sh")
	if out, err := exec.Command("unshare", "--net", "true").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "needs to create network namespaces: unshare --net: %v: %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		testenv.SkipOrFail(t, "cannot read /proc/self/ns/net: %v", err)
	}

	// t.TempDir is 0700 under a 0700 parent: make our own, readable by
	// uid 1000.
	dir, err := os.MkdirTemp("", "activate-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "server")
	copyFile(t, self, bin)
	// Under a test runner, TMPDIR may lie below a directory only root can
	// search.
	if out, err := exec.Command("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--inh-caps=-all",
		"sh", "-c", `test -x "$0"`, bin).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "uid 1000 cannot execute %s (%v %s): point TMPDIR at a directory every user can search", bin, err, out)
	}
	if r.fileCaps != "" && !r.nosuid {
		args := []string{r.fileCaps, bin}
		if r.rootid != 0 {
			args = append([]string{"-n", fmt.Sprint(r.rootid)}, args...)
		}
		if out, err := exec.Command("setcap", args...).CombinedOutput(); err != nil {
			t.Fatalf("setcap %q: %v\n%s", args, err, out)
		}
	}

	// The sysctl is per network namespace: the guard refuses to touch it
	// unless unshare really gave us a new one.
	script := `set -eu
[ "$(readlink /proc/self/ns/net)" != "$HOST_NETNS" ] || { echo "refusing: not in a private network namespace" >&2; exit 97; }
ip link set lo up
echo 1024 > /proc/sys/net/ipv4/ip_unprivileged_port_start
bin=$BIN
if [ -n "${NOSUID_DIR:-}" ]; then
	mkdir "$NOSUID_DIR"
	mount -t tmpfs -o nosuid,mode=0755 activate-test "$NOSUID_DIR"
	cp "$BIN" "$NOSUID_DIR/server"
	setcap "$FILE_CAPS" "$NOSUID_DIR/server"
	bin=$NOSUID_DIR/server
fi
exec "$@" "$bin"
`
	unshare := []string{"--net"}
	env := []string{childEnv + "=1", "HOST_NETNS=" + hostNS, "BIN=" + bin, "PATH=" + os.Getenv("PATH")}
	if r.nosuid {
		unshare = append(unshare, "--mount")
		env = append(env, "NOSUID_DIR="+filepath.Join(dir, "nosuid"), "FILE_CAPS="+r.fileCaps)
	}
	args := append(append(unshare, "--", "sh", "-c", script, "sh"), r.setpriv...)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if stdout.Len() == 0 {
		return childResult{}, fmt.Sprintf("%v: %s", runErr, stderr.String())
	}
	var res childResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("child output %q: %v (stderr: %s)", stdout.String(), err, stderr.String())
	}
	if runErr != nil {
		t.Fatalf("child: %v (stderr: %s)", runErr, stderr.String())
	}
	return res, ""
}

// requireRoot skips the test unless it runs as root of the initial user
// namespace (where setcap writes plain v2 capabilities and setpriv can switch
// users) and has the tools.
func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root: the test sets file capabilities and starts processes as uid 1000 in a private network namespace")
	}
	if m, err := os.ReadFile("/proc/self/uid_map"); err != nil || !initialUIDMap(m) {
		testenv.SkipOrFail(t, "needs root of the initial user namespace, uid_map is %q", m)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "needs %s: %v", tool, err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// hostBounding is the bounding set of the test process, which a non-root
// child cannot lower.
func hostBounding(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(capLines(string(b))) {
		if strings.HasPrefix(f, "CapBnd=") {
			return strings.TrimPrefix(f, "CapBnd=")
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

// wantRaised checks a child that raised cap_net_bind_service and served on
// :80, and that every one of its threads holds exactly that.
func wantRaised(t *testing.T, res childResult, bounding string) {
	t.Helper()
	if res.RaiseErr != "" || res.CheckErr != "" {
		t.Fatalf("Check/Raise failed:\n%s\n%s\nreport:\n%s", res.CheckErr, res.RaiseErr, res.Report)
	}
	if res.Bound != "127.0.0.1:80" || res.BindErr != "" || res.Served != "hello from :80" {
		t.Errorf("after Raise: bound %q, error %q, served %q; want 127.0.0.1:80 serving %q", res.Bound, res.BindErr, res.Served, "hello from :80")
	}
	want := "CapInh=0000000000000000 CapPrm=0000000000000400 CapEff=0000000000000400 CapBnd=" + bounding + " CapAmb=0000000000000000"
	if len(res.Threads) < 5 {
		t.Errorf("child had %d threads, want at least 5 to show that Raise changes them all", len(res.Threads))
	}
	for i, th := range res.Threads {
		if th != want {
			t.Errorf("thread %d after Raise: %s\nwant %s", i, th, want)
		}
	}
	t.Logf("cgo build: %v, %d threads agree: %s", cgoBuild, len(res.Threads), want)
}

// wantRefused checks a child whose Raise failed with the given texts in its
// error, in order.
func wantRefused(t *testing.T, res childResult, want ...string) {
	t.Helper()
	if res.RaiseErr == "" {
		t.Fatalf("Raise succeeded, want an error; report:\n%s", res.Report)
	}
	if res.CheckErr != res.RaiseErr {
		t.Errorf("Check error\n%s\ndiffers from Raise error\n%s", res.CheckErr, res.RaiseErr)
	}
	if !strings.HasPrefix(res.RaiseErr, "activate: cannot raise cap_net_bind_service: not in the permitted set\ncurrent capabilities: =\nwanted capabilities: cap_net_bind_service=ep\ncause: ") {
		t.Errorf("Raise error does not start with the expected summary:\n%s", res.RaiseErr)
	}
	at := 0
	for _, w := range want {
		i := strings.Index(res.RaiseErr[at:], w)
		if i < 0 {
			t.Fatalf("Raise error:\n%s\nwant, after offset %d, %q", res.RaiseErr, at, w)
		}
		at += i + len(w)
	}
	if res.Bound != "" {
		t.Errorf("bound %s after a failed Raise", res.Bound)
	}
	t.Logf("Raise error:\n%s", res.RaiseErr)
}

func TestLiveFilePermitted(t *testing.T) {
	res, failed := startChild(t, run{fileCaps: "cap_net_bind_service=p", setpriv: asUser})
	if failed != "" {
		t.Fatal(failed)
	}
	if !strings.Contains(res.BindBefore, "permission denied") {
		t.Errorf("bind before Raise: %q, want permission denied: =p file capabilities are not effective by themselves", res.BindBefore)
	}
	for _, w := range []string{"user:               uid=1000 euid=1000\n", "capabilities:       cap_net_bind_service=p\n",
		"file capabilities:  cap_net_bind_service=p (security.capability v2)\n", "unprivileged ports: >= 1024\n"} {
		if !strings.Contains(res.Report, w) {
			t.Errorf("Diagnose() before Raise:\n%s\nwant it to contain %q", res.Report, w)
		}
	}
	wantRaised(t, res, hostBounding(t))
}

func TestLiveRoot(t *testing.T) {
	// Root with every capability and no file capabilities: Raise keeps
	// only the one asked for, and, holding cap_setpcap, lowers the
	// bounding set to it too.
	res, failed := startChild(t, run{})
	if failed != "" {
		t.Fatal(failed)
	}
	if res.BindBefore != "" {
		t.Errorf("root could not bind :80 before Raise: %s", res.BindBefore)
	}
	if !strings.Contains(res.Report, "note: running as root (uid 0)") {
		t.Errorf("Diagnose() as root does not say it is fine:\n%s", res.Report)
	}
	wantRaised(t, res, "0000000000000400")
}

func TestLiveBoundingSet(t *testing.T) {
	res, failed := startChild(t, run{fileCaps: "cap_net_bind_service=p", setpriv: append(asUser, "--bounding-set=-net_bind_service")})
	if failed != "" {
		t.Fatal(failed)
	}
	wantRefused(t, res,
		"cap_net_bind_service is not in the bounding set",
		"the container runtime did not grant it",
		"operation not permitted",
		"--cap-add NET_BIND_SERVICE",
		`capabilities.add: ["NET_BIND_SERVICE"]`,
		"only needed for ports below 1024")
}

func TestLiveEffectiveBitRefusesExec(t *testing.T) {
	// The failure =p avoids: with =ep and the capability outside the
	// bounding set, the kernel refuses the exec itself.
	_, failed := startChild(t, run{fileCaps: "cap_net_bind_service=ep", setpriv: append(asUser, "--bounding-set=-net_bind_service")})
	if !strings.Contains(failed, "Operation not permitted") {
		t.Errorf("exec of an =ep binary without the capability in the bounding set: %q, want Operation not permitted", failed)
	}
	t.Logf("exec failed as expected: %s", strings.TrimSpace(failed))
}

func TestLiveNoNewPrivs(t *testing.T) {
	// Two steps: become uid 1000 holding nothing, then set no_new_privs
	// and exec the binary, as a runtime with allowPrivilegeEscalation:
	// false does.
	res, failed := startChild(t, run{fileCaps: "cap_net_bind_service=p", setpriv: append(asUser, "setpriv", "--no-new-privs")})
	if failed != "" {
		t.Fatal(failed)
	}
	wantRefused(t, res, "no_new_privs is set (NoNewPrivs: 1)", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false stays")
}

func TestLiveNoNewPrivsParentHeldIt(t *testing.T) {
	// no_new_privs caps what exec grants at what the parent held: a
	// parent holding cap_net_bind_service (here through the ambient set)
	// passes the file capability through.
	res, failed := startChild(t, run{
		fileCaps: "cap_net_bind_service=p",
		setpriv: []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups",
			"--inh-caps=-all,+net_bind_service", "--ambient-caps=+net_bind_service", "setpriv", "--no-new-privs"},
	})
	if failed != "" {
		t.Fatal(failed)
	}
	wantRaised(t, res, hostBounding(t))
}

func TestLiveNoXattr(t *testing.T) {
	res, failed := startChild(t, run{setpriv: asUser})
	if failed != "" {
		t.Fatal(failed)
	}
	wantRefused(t, res, "server carries no file capabilities", "Dockerfile COPY and COPY --from drop it", "getcap ")
}

func TestLiveForeignRootID(t *testing.T) {
	res, failed := startChild(t, run{fileCaps: "cap_net_bind_service=p", rootid: 12345, setpriv: asUser})
	if failed != "" {
		t.Fatal(failed)
	}
	wantRefused(t, res, "(cap_net_bind_service=p [rootid=12345]) are namespaced (security.capability v3)", "root is uid 12345", "v2")
}

func TestLiveNoSuid(t *testing.T) {
	res, failed := startChild(t, run{fileCaps: "cap_net_bind_service=p", nosuid: true, setpriv: asUser})
	if failed != "" {
		t.Fatal(failed)
	}
	wantRefused(t, res, "is on a file system mounted nosuid")
}

// TestLiveReport compares Diagnose with what libcap reads through system
// calls, for the test process itself.
func TestLiveReport(t *testing.T) {
	r := Diagnose()
	if len(r.Problems) != 0 {
		t.Fatalf("Diagnose().Problems = %q", r.Problems)
	}
	// The sets from /proc/self/status against capget's; that the text is
	// libcap's is caps' TestProcessCapsTextIsLibcaps.
	if got, want := r.Held(), setCaps(cap.GetProc()).String(); got != want {
		t.Errorf("Diagnose().Held() = %q, want %q (cap.GetProc)", got, want)
	}
	if r.KernelCaps != int(cap.MaxBits()) {
		t.Errorf("KernelCaps = %d, want %d", r.KernelCaps, cap.MaxBits())
	}
	for v := cap.Value(0); v < cap.MaxBits(); v++ {
		in, err := cap.GetBound(v)
		if err != nil {
			t.Fatal(err)
		}
		if r.Bounding.Has(int(v)) != in {
			t.Errorf("Bounding.Has(%s) = %v, want %v", v, !in, in)
		}
	}
	if r.UID != os.Getuid() || r.EUID != os.Geteuid() {
		t.Errorf("UID, EUID = %d, %d, want %d, %d", r.UID, r.EUID, os.Getuid(), os.Geteuid())
	}
	if exe, _ := os.Executable(); r.Executable != exe {
		t.Errorf("Executable = %q, want %q", r.Executable, exe)
	}
}

// TestFileCapsFromSetcap checks the decoder against the xattr that the real
// setcap writes and the text that the real getcap -n prints.
func TestFileCapsFromSetcap(t *testing.T) {
	requireRoot(t, "setcap", "getcap")
	f := filepath.Join(t.TempDir(), "bin")
	for _, tc := range []struct {
		text   string
		rootid int
	}{
		{"cap_net_bind_service=p", 0},
		{"cap_net_bind_service=ep", 0},
		{"cap_bpf,cap_perfmon,cap_net_admin=p", 0},
		{"cap_chown,cap_setuid=ei cap_setuid+p", 0},
		{"cap_net_bind_service=p", 4242},
	} {
		if err := os.WriteFile(f, []byte("#!/bin/true\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{tc.text, f}
		if tc.rootid != 0 {
			args = append([]string{"-n", fmt.Sprint(tc.rootid)}, args...)
		}
		if out, err := exec.Command("setcap", args...).CombinedOutput(); err != nil {
			t.Fatalf("setcap %q: %v\n%s", args, err, out)
		}
		out, err := exec.Command("getcap", "-n", f).Output()
		if err != nil {
			t.Fatalf("getcap: %v", err)
		}
		want := strings.TrimSpace(strings.TrimPrefix(string(out), f))
		b, err := getxattr(f, caps.XattrName)
		if err != nil {
			t.Fatal(err)
		}
		x, err := caps.Decode(b)
		if err != nil {
			t.Fatalf("setcap %q: caps.Decode(%x): %v", args, b, err)
		}
		if got := x.String(); got != want {
			t.Errorf("setcap %q: caps.Decode(%x) = %q, getcap -n prints %q", args, b, got, want)
		}
	}
}
