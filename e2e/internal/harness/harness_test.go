package harness

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestParseProcStatus(t *testing.T) {
	// Lines as Linux 6.x prints them (fs/proc/array.c render_cap_t).
	text := "Name:\tserver\nUid:\t1000\t1000\t1000\t1000\nNoNewPrivs:\t1\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000000\n" +
		"CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n"
	got, err := ParseProcStatus(text)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcStatus{CapPrm: 0x400, CapBnd: 0x1ffffffffff, NoNewPrivs: true, Uid: [4]int{1000, 1000, 1000, 1000}}
	if got != want {
		t.Errorf("ParseProcStatus = %+v, want %+v", got, want)
	}
	if got, want := MaskString(got.CapPrm), "cap_net_bind_service"; got != want {
		t.Errorf("MaskString(0x400) = %q, want %q", got, want)
	}
	if _, err := ParseProcStatus("CapPrm:\t0000000000000400\n"); err == nil || !strings.Contains(err.Error(), "no CapInh line") {
		t.Errorf("ParseProcStatus without CapInh: err = %v, want one naming the missing line", err)
	}
	if _, err := ParseProcStatus(strings.Replace(text, "0000000000000400", "zz", 1)); err == nil {
		t.Error("ParseProcStatus accepted a non-hex CapPrm")
	}
}

func TestReadProcStatusSelf(t *testing.T) {
	st, err := ReadProcStatus("self")
	if err != nil {
		t.Fatal(err)
	}
	if st.Uid[0] != os.Getuid() {
		t.Errorf("Uid = %v, want real uid %d", st.Uid, os.Getuid())
	}
	if st.CapBnd == 0 && os.Getuid() == 0 {
		t.Errorf("root with an empty bounding set? %v", st)
	}
}

func TestRunExitCodeAndOutput(t *testing.T) {
	RequireTools(t, "sh")
	r := Run(t, Cmd{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 7"}})
	if r.ExitCode != 7 || r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Errorf("Run = %+v, want exit 7 with out/err", r)
	}
}

// TestNetNS checks the namespace the other tests rely on: separate from the
// host, loopback up, the sysctl pinned there and not on the host, and
// connections from the test reaching a listener inside.
func TestNetNS(t *testing.T) {
	RequireRoot(t)
	hostPortStart, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Fatal(err)
	}
	n := NewNetNS(t)
	r := MustRun(t, n.Exec("ip", "-o", "link", "show")...)
	if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Errorf("links in the namespace, want only lo, up:\n%s", r.Stdout)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); string(after) != string(hostPortStart) {
		t.Errorf("host ip_unprivileged_port_start changed from %q to %q", hostPortStart, after)
	}

	if _, err := n.Dial("127.0.0.1:80", time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial before anything listens: err = %v, want ECONNREFUSED", err)
	}
	if n.ListenerOn(t, 80) {
		t.Fatal("ListenerOn(80) before anything listens")
	}
	var l net.Listener
	if err := n.Do(func() (err error) { l, err = net.Listen("tcp", "127.0.0.1:80"); return err }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.URL.Path) }))
	if !n.ListenerOn(t, 80) {
		t.Error("ListenerOn(80) = false with a listener in the namespace")
	}
	code, body, err := n.Get("127.0.0.1:80", "/x", 5*time.Second)
	if err != nil || code != 200 || body != "hello /x" {
		t.Errorf("Get = %d %q %v, want 200 \"hello /x\"", code, body, err)
	}
}

func TestUserNetNS(t *testing.T) {
	RequireRoot(t)
	n := NewUserNetNS(t, 100000)
	r := MustRun(t, n.Exec("sh", "-c", "cat /proc/self/uid_map; id -u")...)
	if f := strings.Fields(r.Stdout); len(f) != 4 || f[0] != "0" || f[1] != "100000" || f[2] != "65536" || f[3] != "0" {
		t.Errorf("uid_map and uid in the user namespace:\n%s\nwant \"0 100000 65536\" and uid 0", r.Stdout)
	}
}
