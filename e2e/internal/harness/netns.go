package harness

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// UnprivilegedPortStart is what the tests pin net.ipv4.ip_unprivileged_port_start
// to in every network namespace they use: the kernel default. Docker and
// podman may lower it to 0 inside a container's namespace, which would let
// any user bind port 80 and prove nothing about capabilities.
const UnprivilegedPortStart = 1024

// NetNS is a private network namespace with only the loopback interface, up,
// and net.ipv4.ip_unprivileged_port_start pinned to 1024 — set in that
// namespace only, never on the host (the sysctl is per namespace).
//
// A sleeping holder process keeps the namespace alive; programs join it with
// nsenter (Exec) or through its path (Path, for runc's config.json), and the
// test itself connects from inside it (Dial, Get).
type NetNS struct {
	// Path is /proc/<holder>/ns/net.
	Path string
	// UserNS is /proc/<holder>/ns/user when the namespace belongs to a new
	// user namespace (NewUserNetNS), else "".
	UserNS string
	holder *Proc
}

const netnsScript = "ip link set lo up && echo %d > /proc/sys/net/ipv4/ip_unprivileged_port_start && echo ready && exec sleep 3600"

// NewNetNS creates the namespace with `unshare --net`, brings lo up with
// `ip link set lo up` and writes the sysctl from inside it. A cleanup kills
// the holder, which frees the namespace.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	RequireTools(t, "unshare", "nsenter", "ip", "sh", "sleep")
	h := Start(t, "unshare", "--net", "--", "sh", "-c", fmt.Sprintf(netnsScript, UnprivilegedPortStart))
	return waitNetNS(t, h, false)
}

// NewUserNetNS is NewNetNS in a new user namespace whose uids and gids 0..65535
// map to hostRoot..hostRoot+65535 on the host; the network namespace belongs
// to it, so capabilities a process holds in that user namespace count for
// binding ports there.
//
// It clones the namespaces itself instead of running `unshare --user
// --map-users=...`: unshare writes such ranges through newuidmap, which
// insists on /etc/subuid entries the tests should not need to add.
func NewUserNetNS(t testing.TB, hostRoot uint32) *NetNS {
	t.Helper()
	RequireTools(t, "nsenter", "ip", "sh", "sleep")
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(hostRoot), Size: 65536}}
	h := StartWith(t, &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                m,
		GidMappings:                m,
		GidMappingsEnableSetgroups: true,
		// Become root of the new namespace before exec: the host's uid 0 is
		// not mapped there, and an unmapped uid would lose every capability
		// at exec.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}, "sh", "-c", fmt.Sprintf(netnsScript, UnprivilegedPortStart))
	return waitNetNS(t, h, true)
}

func waitNetNS(t testing.TB, h *Proc, userns bool) *NetNS {
	t.Helper()
	deadline := time.Now().Add(DefaultTimeout)
	for !strings.Contains(h.Result().Stdout, "ready") {
		if h.Exited() || time.Now().After(deadline) {
			t.Fatalf("network namespace holder did not get ready:\n%s", h.Result())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n := &NetNS{Path: fmt.Sprintf("/proc/%d/ns/net", h.Pid()), holder: h}
	if userns {
		n.UserNS = fmt.Sprintf("/proc/%d/ns/user", h.Pid())
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if other, err := os.Readlink(n.Path); err != nil || other == self {
		t.Fatalf("holder %d is not in a new network namespace (%q, host %q, %v)", h.Pid(), other, self, err)
	}
	if got := n.Sysctl(t, "net/ipv4/ip_unprivileged_port_start"); got != fmt.Sprint(UnprivilegedPortStart) {
		t.Fatalf("net.ipv4.ip_unprivileged_port_start in the test namespace = %q, want %d", got, UnprivilegedPortStart)
	}
	return n
}

// NetNSOf returns the network namespace of a running process, such as a
// container started by podman. Only Dial, Get, Do, Sysctl and ListenerOn
// make sense on it; the process keeps it alive.
func NetNSOf(pid int) *NetNS {
	return &NetNS{Path: fmt.Sprintf("/proc/%d/ns/net", pid)}
}

// Exec returns args prefixed with `nsenter --net=<path> --`, so the program
// runs in this namespace. nsenter execs the program in place, keeping the
// pid. For a NewUserNetNS namespace it joins the user namespace too, as its
// root (uid and gid 0 there).
func (n *NetNS) Exec(args ...string) []string {
	pre := []string{"nsenter", "--net=" + n.Path}
	if n.UserNS != "" {
		pre = append(pre, "--user="+n.UserNS)
	}
	return append(append(pre, "--"), args...)
}

// Sysctl reads /proc/sys/<name> as seen from inside the namespace.
func (n *NetNS) Sysctl(t testing.TB, name string) string {
	t.Helper()
	r := MustRun(t, n.Exec("cat", "/proc/sys/"+name)...)
	return strings.TrimSpace(r.Stdout)
}

// Do runs fn on an OS thread that has joined the namespace. Sockets fn
// creates on that goroutine live in the namespace; connections then work
// from any goroutine.
func (n *NetNS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it is in another namespace, and the
		// Go runtime terminates a locked thread when its goroutine exits
		// instead of reusing it for other goroutines.
		runtime.LockOSThread()
		f, err := os.Open(n.Path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if _, _, e := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			errc <- fmt.Errorf("setns(%s): %v", n.Path, e)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dial connects to a TCP address from inside the namespace.
func (n *NetNS) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// Get makes an HTTP GET request to http://<addr><path> from inside the
// namespace and returns the status code and body. It speaks HTTP over a
// connection it dialled itself because http.Transport dials on goroutines
// of its own, outside the namespace.
func (n *NetNS) Get(addr, path string, timeout time.Duration) (int, string, error) {
	c, err := n.Dial(addr, timeout)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Close = true
	if err := req.Write(c); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String(), err
}

// ListenerOn reports whether some process in the namespace listens on the
// TCP port, as the kernel's socket table for the namespace shows it
// (/proc/<holder>/net/tcp), independently of any connection attempt.
func (n *NetNS) ListenerOn(t testing.TB, port int) bool {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(n.Path, "/ns/net") + "/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// local_address rem_address st; st 0A is TCP_LISTEN.
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}
