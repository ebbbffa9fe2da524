package kernel

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

// TestExtractedXattr checks that the attribute the kernel stores after
// extraction is byte for byte what the real setcap stores for the same text
// on this kernel, and the value the kernel's header defines.
func TestExtractedXattr(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ text, want string }{
		{"cap_net_bind_service=ep", xattrEP},
		{"cap_net_bind_service=p", xattrP},
	} {
		if got := harness.SetcapXattr(t, f.server, tc.text); got != tc.want {
			t.Fatalf("setcap %s stored %s, want %s: the reference itself is off", tc.text, got, tc.want)
		}
		l := f.layer(t, strings.NewReplacer("=", "-", "+", "-").Replace(tc.text), tc.text)
		for _, ex := range extractors {
			t.Run(ex.name+"/"+tc.text, func(t *testing.T) {
				root := ex.extract(t, f, l)
				if got := harness.CapXattr(t, filepath.Join(root, "app/server")); got != tc.want {
					t.Errorf("security.capability after %s extraction = %q, want %s (what setcap %s stores)", ex.name, got, tc.want, tc.text)
				}
			})
		}
	}
}

// TestEffective: with =ep, exec makes the capability permitted and effective
// and the server binds port 80 with no code of its own.
func TestEffective(t *testing.T) {
	f := newFixture(t)
	l := f.layer(t, "ep", "cap_net_bind_service=ep")
	for _, ex := range extractors {
		t.Run(ex.name, func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, l), "app/server")
			ns := harness.NewNetNS(t)
			// -drop=false keeps the capability after the bind, so
			// /proc/<pid>/status shows what exec granted.
			srv, res := harness.StartServer(t, ns, addr80, harness.AsUser1000(bin, nil, "-addr", addr80, "-drop=false"))
			if srv == nil {
				t.Fatalf("server did not start:\n%s", res)
			}
			if srv.Status.Uid != [4]int{1000, 1000, 1000, 1000} {
				t.Errorf("server uids = %v, want all 1000", srv.Status.Uid)
			}
			if exe := srv.Exe(); exe != bin {
				t.Errorf("/proc/<pid>/exe = %q, want %q", exe, bin)
			}
			harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
			harness.WantCaps(t, "GET /caps", srv.Caps, netBind, netBind)
			wantGreeting(t, ns)
			if !ns.ListenerOn(t, 80) {
				t.Error("no listener on port 80 in the namespace's socket table")
			}

			// The default -drop=true: the server drops the capability
			// once bound and keeps serving on :80.
			srv.Kill()
			<-srv.Done()
			srv, res = harness.StartServer(t, ns, addr80, harness.AsUser1000(bin, nil, "-addr", addr80))
			if srv == nil {
				t.Fatalf("server did not start:\n%s", res)
			}
			harness.WantCaps(t, "/proc/<pid>/status after the bind (default -drop)", srv.Status, 0, 0)
			wantGreeting(t, ns)
		})
	}
}

// TestPermittedWithoutHelper: with =p, exec makes the capability permitted
// only; a program that does not raise it gets EACCES from bind.
func TestPermittedWithoutHelper(t *testing.T) {
	f := newFixture(t)
	l := f.layer(t, "p", "cap_net_bind_service=p")
	for _, ex := range extractors {
		t.Run(ex.name, func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, l), "app/server")
			ns := harness.NewNetNS(t)
			st := probe(t, ns, bin, nil)
			harness.WantCaps(t, "/proc/<pid>/status", st, netBind, 0)

			res := run(t, ns, harness.AsUser1000(bin, nil, "-addr", addr80))
			if res.ExitCode != 1 {
				t.Errorf("exit status %d, want 1:\n%s", res.ExitCode, res)
			}
			harness.WantContains(t, "stderr", res.Stderr,
				"listen tcp "+addr80+": bind: permission denied",
				"cap_net_bind_service is permitted but not effective (file capabilities =p): start the server with -raise")
			if ns.ListenerOn(t, 80) {
				t.Error("something listens on port 80 after the refused bind")
			}
		})
	}
}

// TestPermittedWithHelper: with =p, the activate helper (-raise) makes the
// permitted capability effective and the server binds port 80.
func TestPermittedWithHelper(t *testing.T) {
	f := newFixture(t)
	l := f.layer(t, "p", "cap_net_bind_service=p")
	for _, ex := range extractors {
		t.Run(ex.name, func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, l), "app/server")
			ns := harness.NewNetNS(t)
			srv, res := harness.StartServer(t, ns, addr80, harness.AsUser1000(bin, nil, "-addr", addr80, "-raise", "-drop=false"))
			if srv == nil {
				t.Fatalf("server did not start:\n%s", res)
			}
			harness.WantCaps(t, "/proc/<pid>/status after -raise", srv.Status, netBind, netBind)
			wantGreeting(t, ns)
		})
	}
}

// TestBoundingSet: the runtime did not grant the capability (it is not in
// the bounding set, as after docker run --cap-drop ALL). With =ep the kernel
// refuses the exec itself with EPERM — the bare "operation not permitted"
// users report; with =p the program starts and the helper says why.
func TestBoundingSet(t *testing.T) {
	f := newFixture(t)
	ep := f.layer(t, "ep", "cap_net_bind_service=ep")
	p := f.layer(t, "p", "cap_net_bind_service=p")
	noBind := []string{"--bounding-set", "-net_bind_service"}
	for _, ex := range extractors {
		t.Run(ex.name+"/ep", func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, ep), "app/server")
			ns := harness.NewNetNS(t)
			res := run(t, ns, harness.AsUser1000(bin, noBind, "-addr", addr80))
			// setpriv exits 126 when it cannot execute the program.
			if res.ExitCode != 126 {
				t.Errorf("exit status %d, want 126 (exec failed):\n%s", res.ExitCode, res)
			}
			harness.WantContains(t, "stderr", res.Stderr, fmt.Sprintf("failed to execute %s: Operation not permitted", bin))
			if res.Stdout != "" || strings.Contains("\n"+res.Stderr, "\nserver:") {
				t.Errorf("the server ran, want the exec refused:\n%s", res)
			}
		})
		t.Run(ex.name+"/p+helper", func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, p), "app/server")
			ns := harness.NewNetNS(t)
			st := probe(t, ns, bin, noBind)
			harness.WantCaps(t, "/proc/<pid>/status", st, 0, 0)
			if st.CapBnd&netBind != 0 {
				t.Errorf("CapBnd %016x still has cap_net_bind_service", st.CapBnd)
			}
			res := run(t, ns, harness.AsUser1000(bin, noBind, "-addr", addr80, "-raise"))
			if res.ExitCode != 1 {
				t.Errorf("exit status %d, want 1:\n%s", res.ExitCode, res)
			}
			harness.WantContains(t, "stderr", res.Stderr,
				"activate: cannot raise cap_net_bind_service: not in the permitted set",
				"current capabilities: =",
				"cap_net_bind_service is not in the bounding set",
				"--cap-add NET_BIND_SERVICE")
		})
	}
}

// TestNoNewPrivs: with no_new_privs set (Kubernetes allowPrivilegeEscalation:
// false, docker --security-opt no-new-privileges), exec grants file
// capabilities only up to what the process already held — nothing, for a
// plain uid 1000 process. The exec itself succeeds even with =ep.
//
// The process must be uid 1000 with no capabilities before it sets
// no_new_privs, as in a container: hence two setpriv steps (see
// TestNoNewPrivsFromRoot for why one is not enough).
func TestNoNewPrivs(t *testing.T) {
	f := newFixture(t)
	ep := f.layer(t, "ep", "cap_net_bind_service=ep")
	p := f.layer(t, "p", "cap_net_bind_service=p")
	nnp := func(bin string, args ...string) []string {
		return harness.AsUser1000("setpriv", nil, append([]string{"--no-new-privs", "--", bin}, args...)...)
	}
	for _, ex := range extractors {
		t.Run(ex.name+"/ep", func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, ep), "app/server")
			ns := harness.NewNetNS(t)
			srv, res := harness.StartServer(t, ns, addrHigh, nnp(bin, "-addr", addrHigh, "-drop=false"))
			if srv == nil {
				t.Fatalf("server did not start on %s:\n%s", addrHigh, res)
			}
			if !srv.Status.NoNewPrivs {
				t.Errorf("NoNewPrivs = 0, want 1: %v", srv.Status)
			}
			harness.WantCaps(t, "/proc/<pid>/status", srv.Status, 0, 0)
			res2 := run(t, ns, nnp(bin, "-addr", addr80))
			if res2.ExitCode != 1 {
				t.Errorf("exit status %d, want 1:\n%s", res2.ExitCode, res2)
			}
			harness.WantContains(t, "stderr", res2.Stderr, "listen tcp "+addr80+": bind: permission denied")
		})
		t.Run(ex.name+"/p+helper", func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, p), "app/server")
			ns := harness.NewNetNS(t)
			res := run(t, ns, nnp(bin, "-addr", addr80, "-raise"))
			if res.ExitCode != 1 {
				t.Errorf("exit status %d, want 1:\n%s", res.ExitCode, res)
			}
			harness.WantContains(t, "stderr", res.Stderr,
				"activate: cannot raise cap_net_bind_service: not in the permitted set",
				"no_new_privs is set (NoNewPrivs: 1)",
				"allowPrivilegeEscalation")
		})
	}
}

// TestNoNewPrivsFromRoot documents a trap for anyone simplifying
// TestNoNewPrivs: a single `setpriv --reuid=1000 --no-new-privs` started by
// root execs the binary while still holding root's permitted set, so
// no_new_privs does not clamp the file capabilities and the bind works. It
// does not model a container, where the process never held them.
func TestNoNewPrivsFromRoot(t *testing.T) {
	f := newFixture(t)
	bin := filepath.Join(extractGNUTar(t, f, f.layer(t, "ep", "cap_net_bind_service=ep")), "app/server")
	ns := harness.NewNetNS(t)
	srv, res := harness.StartServer(t, ns, addr80, harness.AsUser1000(bin, []string{"--no-new-privs"}, "-addr", addr80, "-drop=false"))
	if srv == nil {
		t.Fatalf("server did not start:\n%s", res)
	}
	if !srv.Status.NoNewPrivs {
		t.Errorf("NoNewPrivs = 0, want 1: %v", srv.Status)
	}
	harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
}

// TestV3RootID0 extracts a revision 3 attribute whose rootid is 0 (what a
// process in the initial user namespace means by "v3 for root"): the kernel
// stores it as plain revision 2 on setxattr, so it works everywhere.
func TestV3RootID0(t *testing.T) {
	f := newFixture(t)
	l := f.handLayer(t, "v3-rootid0", v3Xattr(netBind, true, 0))
	// umoci needs an image; capslayer image takes the hand-made layer as
	// any other.
	for _, ex := range extractors {
		t.Run(ex.name, func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, l), "app/server")
			if got := harness.CapXattr(t, bin); got != xattrEP {
				t.Errorf("security.capability after extracting a v3 rootid 0 value = %q, want the v2 value %s", got, xattrEP)
			}
			ns := harness.NewNetNS(t)
			srv, res := harness.StartServer(t, ns, addr80, harness.AsUser1000(bin, nil, "-addr", addr80, "-drop=false"))
			if srv == nil {
				t.Fatalf("server did not start:\n%s", res)
			}
			harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
		})
	}
}

// TestV3RootID: a revision 3 attribute (capslayer layer --rootid 100000, as
// setcap -n 100000) is kept as v3 by the kernel, ignored outside the user
// namespace whose root is host uid 100000, and honoured inside it.
func TestV3RootID(t *testing.T) {
	f := newFixture(t)
	ep := f.layer(t, "v3-ep", "cap_net_bind_service=ep", "--rootid", fmt.Sprint(hostRoot))
	p := f.layer(t, "v3-p", "cap_net_bind_service=p", "--rootid", fmt.Sprint(hostRoot))
	for _, ex := range extractors {
		t.Run(ex.name, func(t *testing.T) {
			bin := filepath.Join(ex.extract(t, f, ep), "app/server")
			if got := harness.CapXattr(t, bin); got != xattrEPRoot100000 {
				t.Errorf("security.capability = %q, want the v3 value %s", got, xattrEPRoot100000)
			}

			t.Run("initial user namespace", func(t *testing.T) {
				ns := harness.NewNetNS(t)
				harness.WantCaps(t, "/proc/<pid>/status", probe(t, ns, bin, nil), 0, 0)
				res := run(t, ns, harness.AsUser1000(bin, nil, "-addr", addr80))
				if res.ExitCode != 1 {
					t.Errorf("exit status %d, want 1:\n%s", res.ExitCode, res)
				}
				harness.WantContains(t, "stderr", res.Stderr, "listen tcp "+addr80+": bind: permission denied")

				pbin := filepath.Join(ex.extract(t, f, p), "app/server")
				res = run(t, ns, harness.AsUser1000(pbin, nil, "-addr", addr80, "-raise"))
				if res.ExitCode != 1 {
					t.Errorf("exit status %d, want 1:\n%s", res.ExitCode, res)
				}
				harness.WantContains(t, "stderr", res.Stderr,
					"are namespaced (security.capability v3)",
					fmt.Sprintf("whose root is uid %d", hostRoot))
			})

			t.Run("user namespace of its rootid", func(t *testing.T) {
				ns := harness.NewUserNetNS(t, hostRoot)
				// Read from inside, the kernel presents the attribute as v2:
				// its rootid is this namespace's root.
				r := harness.MustRun(t, ns.Exec("getfattr", "--absolute-names", "-n", "security.capability", "-e", "hex", bin)...)
				harness.WantContains(t, "getfattr inside the user namespace", r.Stdout, "security.capability=0x"+xattrEP)
				srv, res := harness.StartServer(t, ns, addr80, harness.AsUser1000(bin, nil, "-addr", addr80, "-drop=false"))
				if srv == nil {
					t.Fatalf("server did not start:\n%s", res)
				}
				harness.WantCaps(t, "/proc/<pid>/status", srv.Status, netBind, netBind)
				if srv.Status.Uid != [4]int{1000 + hostRoot, 1000 + hostRoot, 1000 + hostRoot, 1000 + hostRoot} {
					t.Errorf("host uids of the server = %v, want %d (uid 1000 in the namespace)", srv.Status.Uid, 1000+hostRoot)
				}
				wantGreeting(t, ns)
			})

			t.Run("user namespace of another root", func(t *testing.T) {
				ns := harness.NewUserNetNS(t, 2*hostRoot)
				harness.WantCaps(t, "/proc/<pid>/status", probe(t, ns, bin, nil), 0, 0)
			})
		})
	}
}

// probe runs the server as uid 1000 on a port that needs no capability,
// keeping whatever exec granted (-drop=false, no -raise), and returns its
// /proc/<pid>/status: what exec granted the binary under these conditions,
// even when binding port 80 would fail.
func probe(t *testing.T, ns *harness.NetNS, bin string, setprivFlags []string) harness.ProcStatus {
	t.Helper()
	srv, res := harness.StartServer(t, ns, addrHigh, harness.AsUser1000(bin, setprivFlags, "-addr", addrHigh, "-drop=false"))
	if srv == nil {
		t.Fatalf("server did not start on %s:\n%s", addrHigh, res)
	}
	st := srv.Status
	inside := srv.Caps
	inside.Uid = st.Uid // GET /caps has no Uid line
	if inside != st {
		t.Errorf("/proc/<pid>/status read from outside %v differs from GET /caps %v", st, srv.Caps)
	}
	srv.Kill()
	<-srv.Done()
	return st
}

// run runs argv in the namespace to completion.
func run(t *testing.T, ns *harness.NetNS, argv []string) harness.Result {
	t.Helper()
	return harness.Run(t, harness.Cmd{Args: ns.Exec(argv...)})
}

// wantGreeting connects to the server on port 80 from inside the namespace.
func wantGreeting(t *testing.T, ns *harness.NetNS) {
	t.Helper()
	code, body, err := ns.Get(addr80, "/", 5*time.Second)
	if err != nil || code != 200 || body != "hello from the rules_capslayer example server\n" {
		t.Errorf("GET http://%s/ = %d %q %v, want 200 and the greeting", addr80, code, body, err)
	}
}
