package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// serverEnv makes the test binary act as the server (see TestMain), so the
// live tests can give it file capabilities and start it as another user.
const serverEnv = "SERVER_TEST_MAIN"

// clientEnv makes the test binary fetch the URL it names and print the body.
const clientEnv = "SERVER_TEST_GET"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) != "" {
		main()
	}
	if url := os.Getenv(clientEnv); url != "" {
		os.Exit(client(url))
	}
	os.Exit(m.Run())
}

func noEnv(string) string { return "" }

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", 200, "hello from the rules_capslayer example server\n"},
		{"GET", "/caps", 200, capLines(status)},
		{"POST", "/", 405, "Method Not Allowed\n"},
		{"GET", "/nope", 404, "404 page not found\n"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || string(body) != tc.body {
			t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
}

func TestCapLines(t *testing.T) {
	in := "Name:\tserver\nUid:\t1000\t1000\t1000\t1000\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000400\n" +
		"CapEff:\t0000000000000400\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\n"
	want := "CapInh:\t0000000000000000\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\n" +
		"CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
	if got := capLines([]byte(in)); got != want {
		t.Errorf("capLines() = %q, want %q", got, want)
	}
}

func TestParseArgs(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) string
		want config
		err  string
	}{
		{"defaults", nil, noEnv, config{addr: ":80", drop: true}, ""},
		{"PORT", nil, env("PORT", "8080"), config{addr: ":8080", drop: true}, ""},
		{"ADDR wins over PORT", nil, env("ADDR", "127.0.0.1:81", "PORT", "8080"), config{addr: "127.0.0.1:81", drop: true}, ""},
		{"flag wins over env", []string{"-addr", ":90", "-raise", "-drop=false", "-check"}, env("ADDR", ":81"),
			config{addr: ":90", raise: true, check: true}, ""},
		{"bad addr", []string{"-addr", "80"}, noEnv, config{}, `-addr "80": address 80: missing port in address; want host:port`},
		{"arguments", []string{"serve"}, noEnv, config{}, `unexpected arguments ["serve"]`},
		{"exclusive", []string{"-check", "-diagnose"}, noEnv, config{}, "-check and -diagnose exclude each other"},
		{"unknown flag", []string{"-port", "80"}, noEnv, config{}, "flag provided but not defined: -port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, io.Discard, tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseArgs(%q) error = %v, want %q", tc.args, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseArgs(%q) = %+v, %v, want %+v", tc.args, got, err, tc.want)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // substring
	}{
		// -drop=false: dropping would take the capabilities of the test
		// process itself.
		{"check", []string{"-check", "-drop=false", "-addr", "127.0.0.1:0"}, 0, `^bound 127\.0\.0\.1:\d+\n$`, ""},
		{"diagnose", []string{"-diagnose"}, 0, `(?m)^executable: +\S+\n(.*\n)*no_new_privs: +[01]\n`, ""},
		{"help", []string{"-h"}, 0, `^$`, "exit status: 0 ok, 1 capability or bind failure"},
		{"usage", []string{"-check", "extra"}, 2, `^$`, `server: unexpected arguments ["extra"]`},
		{"address in use", []string{"-check", "-drop=false", "-addr", "%s"}, 1, `^$`, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "address in use" {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				tc.args[len(tc.args)-1] = l.Addr().String()
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, noEnv)
			if code != tc.code || !regexp.MustCompile(tc.stdout).MatchString(stdout.String()) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("run(%q) = %d\nstdout: %q\nstderr: %q\nwant %d, stdout matching %q, stderr containing %q",
					tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// lineWriter passes each line written to it to a channel.
type lineWriter struct {
	lines chan string
	buf   []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 10)}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-drop=false", "-addr", "127.0.0.1:0"}, io.Discard, stderr, noEnv) }()
	var addr string
	select {
	case l := <-stderr.lines:
		addr = strings.TrimPrefix(l, "server: listening on ")
	case <-time.After(10 * time.Second):
		t.Fatal("server did not report its address")
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET / = %d, want 200", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run() after cancel = %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

// The live tests start the server as uid 1000 in a private network namespace
// from a copy of the test binary with file capabilities, the way a container
// runtime starts the image's entrypoint.

// start copies the test binary, gives it fileCaps, and starts it as uid 1000
// with the given extra setpriv options and server arguments. The network
// namespace is private, with loopback up and the default privileged port
// range (the sysctl is per namespace; the script refuses to write it unless
// unshare really gave it a new namespace).
func start(t *testing.T, fileCaps string, setprivOpts []string, args ...string) *proc {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root: the test sets file capabilities and starts the server as uid 1000 in a private network namespace")
	}
	if m, err := os.ReadFile("/proc/self/uid_map"); err != nil || len(strings.Fields(string(m))) != 3 || strings.Fields(string(m))[2] != "4294967295" {
		testenv.SkipOrFail(t, "needs root of the initial user namespace, uid_map is %q", m)
	}
	for _, tool := range []string{"unshare", "nsenter", "setpriv", "setcap", "ip", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "needs %s: %v", tool, err)
		}
	}
	if out, err := exec.Command("unshare", "--net", "true").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "needs to create network namespaces: unshare --net: %v: %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "server-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "server")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// Under a test runner, TMPDIR may lie below a directory only root can
	// search.
	if out, err := exec.Command("setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--inh-caps=-all",
		"sh", "-c", `test -x "$0"`, bin).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "uid 1000 cannot execute %s (%v %s): point TMPDIR at a directory every user can search", bin, err, out)
	}
	if fileCaps != "" {
		if out, err := exec.Command("setcap", fileCaps, bin).CombinedOutput(); err != nil {
			t.Fatalf("setcap %s: %v\n%s", fileCaps, err, out)
		}
	}
	script := `set -eu
[ "$(readlink /proc/self/ns/net)" != "$HOST_NETNS" ] || { echo "refusing: not in a private network namespace" >&2; exit 97; }
ip link set lo up
echo 1024 > /proc/sys/net/ipv4/ip_unprivileged_port_start
exec "$@"
`
	argv := []string{"--net", "--", "sh", "-c", script, "sh",
		"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--inh-caps=-all"}
	argv = append(append(append(argv, setprivOpts...), bin), args...)
	cmd := exec.Command("unshare", argv...)
	cmd.Env = []string{serverEnv + "=1", "HOST_NETNS=" + hostNS, "PATH=" + os.Getenv("PATH")}
	cmd.Dir = dir
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// proc is a started server.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed when it has exited
}

// wait waits up to 30 s for the server to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatal("server did not exit within 30 s")
		return -1
	}
}

// syncBuffer is a bytes.Buffer that the test can read while exec copies the
// server's output into it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLiveCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fileCaps string
		setpriv  []string
		args     []string
		code     int
		stdout   string
		stderr   []string
	}{
		{"raised", "cap_net_bind_service=p", nil, []string{"-raise", "-check", "-addr", "127.0.0.1:80"}, 0, "bound 127.0.0.1:80\n", nil},
		{"effective file capability", "cap_net_bind_service=ep", nil, []string{"-check", "-addr", "127.0.0.1:80"}, 0, "bound 127.0.0.1:80\n", nil},
		{"forgot -raise", "cap_net_bind_service=p", nil, []string{"-check", "-addr", "127.0.0.1:80"}, 1, "",
			[]string{"bind: permission denied", "permitted but not effective", "start the server with -raise"}},
		{"not granted", "cap_net_bind_service=p", []string{"--bounding-set=-net_bind_service"}, []string{"-raise", "-check", "-addr", "127.0.0.1:80"}, 1, "",
			[]string{"server: activate: cannot raise cap_net_bind_service: not in the permitted set", "current capabilities: =",
				"not in the bounding set", "--cap-add NET_BIND_SERVICE"}},
		{"no capabilities at all", "", nil, []string{"-check", "-addr", "127.0.0.1:80"}, 1, "",
			[]string{"bind: permission denied", "carries no file capabilities"}},
		{"no_new_privs", "cap_net_bind_service=p", []string{"setpriv", "--no-new-privs"}, []string{"-raise", "-check", "-addr", "127.0.0.1:80"}, 1, "",
			[]string{"no_new_privs is set", "allowPrivilegeEscalation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.fileCaps, tc.setpriv, tc.args...)
			code := p.wait(t)
			stdout, stderr := p.stdout.String(), p.stderr.String()
			if code != tc.code || stdout != tc.stdout {
				t.Fatalf("server %q exited %d, stdout %q, want %d, %q\nstderr:\n%s", tc.args, code, stdout, tc.code, tc.stdout, stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, w)
				}
			}
			t.Logf("stderr:\n%s", stderr)
		})
	}
}

// TestLiveServe runs the server on 127.0.0.1:80 as uid 1000 and asks it,
// from inside its network namespace, what it holds once serving.
func TestLiveServe(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		eff  string
	}{
		{"drops after bind", []string{"-raise", "-addr", "127.0.0.1:80"}, "0000000000000000"},
		{"keeps", []string{"-raise", "-drop=false", "-addr", "127.0.0.1:80"}, "0000000000000400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, "cap_net_bind_service=p", nil, tc.args...)
			deadline := time.After(20 * time.Second)
			for !strings.Contains(p.stderr.String(), "server: listening on 127.0.0.1:80\n") {
				select {
				case <-p.done:
					t.Fatalf("server exited before listening; stderr:\n%s", p.stderr.String())
				case <-deadline:
					t.Fatalf("server did not start listening; stderr:\n%s", p.stderr.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			body := getInNetns(t, p.cmd.Process.Pid, "http://127.0.0.1:80/caps")
			want := fmt.Sprintf("CapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n",
				tc.eff, tc.eff, hostBounding(t))
			if body != want {
				t.Errorf("GET /caps = %q, want %q", body, want)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t); code != 0 {
				t.Errorf("server exited %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
			}
		})
	}
}

// getInNetns fetches url from inside the network namespace of process pid,
// by running the test binary as a client (see TestMain) under nsenter.
func getInNetns(t *testing.T, pid int, url string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", pid), "--", self)
	cmd.Env = []string{clientEnv + "=" + url}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GET %s in the server's network namespace: %v", url, err)
	}
	return string(out)
}

// client fetches url and copies the body to stdout.
func client(url string) int {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		return 1
	}
	return 0
}

// hostBounding is the bounding set of the test process, which a non-root
// server cannot lower.
func hostBounding(t *testing.T) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:\t"); ok {
			return v
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}
