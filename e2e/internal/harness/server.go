package harness

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// AsUser1000 returns argv that runs bin as uid and gid 1000 with no
// supplementary groups, as a container runtime starts a non-root image: the
// uid switch clears the capabilities the parent (root) held, so what the
// program holds after exec comes from its file capabilities. setprivFlags go
// before the program, e.g. "--bounding-set", "-net_bind_service".
func AsUser1000(bin string, setprivFlags []string, args ...string) []string {
	argv := []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"}
	argv = append(argv, setprivFlags...)
	argv = append(argv, "--", bin)
	return append(argv, args...)
}

// Running is a server that got as far as serving HTTP.
type Running struct {
	*Proc
	// Pid is the server's process id (for a container, not the runtime's).
	Pid int
	// Status is /proc/<pid>/status of the server process, read from
	// outside while it serves.
	Status ProcStatus
	// Caps is the body of GET /caps: the server's own view of the same
	// lines.
	Caps ProcStatus
}

// StartServer starts argv (which must run the example server listening on
// addr) in the namespace, and waits until GET /caps on addr answers or the
// process exits. It returns the running server, or nil and the exit result
// when the process ended first (a refused bind, a failed exec).
func StartServer(t testing.TB, ns *NetNS, addr string, argv []string) (*Running, *Result) {
	t.Helper()
	p := Start(t, ns.Exec(argv...)...)
	return WaitServing(t, ns, addr, p, p.Pid)
}

// WaitServing waits until GET /caps on addr in the namespace answers, then
// reads /proc/<pid>/status of the server, whose pid serverPid returns (the
// process p itself, or a container's process that p, a runtime, started). It
// returns nil and p's result when p exits first.
func WaitServing(t testing.TB, ns *NetNS, addr string, p *Proc, serverPid func() int) (*Running, *Result) {
	t.Helper()
	deadline := time.Now().Add(DefaultTimeout)
	for {
		select {
		case <-p.Done():
			r := p.Result()
			return nil, &r
		default:
		}
		code, body, err := ns.Get(addr, "/caps", 2*time.Second)
		if err == nil {
			if code != 200 {
				t.Fatalf("GET /caps = %d %q, want 200:\n%s", code, body, p.Result())
			}
			caps, err := ParseProcStatus(body)
			if err != nil {
				t.Fatalf("GET /caps: %v", err)
			}
			pid := serverPid()
			st, err := ReadProcStatus(fmt.Sprint(pid))
			if err != nil {
				t.Fatalf("server pid %d: %v\n%s", pid, err, p.Result())
			}
			return &Running{Proc: p, Pid: pid, Status: st, Caps: caps}, nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer on %s within %v (last error %v):\n%s", addr, DefaultTimeout, err, p.Result())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exe returns the resolved /proc/<pid>/exe of the server.
func (r *Running) Exe() string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", r.Pid))
	return s
}

// WantCaps checks the capability sets of a process: permitted and
// effective exactly as given, inheritable and ambient empty.
func WantCaps(t testing.TB, what string, st ProcStatus, prm, eff uint64) {
	t.Helper()
	if st.CapPrm != prm || st.CapEff != eff || st.CapInh != 0 || st.CapAmb != 0 {
		t.Errorf("%s: %v\nwant CapPrm %016x (%s) CapEff %016x (%s), CapInh and CapAmb 0",
			what, st, prm, MaskString(prm), eff, MaskString(eff))
	}
}

// WantContains checks that text contains every one of the substrings.
func WantContains(t testing.TB, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s does not contain %q:\n%s", what, s, text)
		}
	}
}
