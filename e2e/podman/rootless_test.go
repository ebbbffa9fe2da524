package podman

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
)

// rootless is a non-root user, created for the test with subordinate uid
// and gid ranges (useradd gives it SUB_UID_COUNT ids from /etc/login.defs),
// who runs podman with its own store (vfs), runtime directory and
// configuration under a temporary directory.
type rootless struct {
	dir, user         string
	uid, subuid       int
	capslayer         string
	probeBin, version string
	runc              string
	seq               int
}

func newRootless(t *testing.T) *rootless {
	t.Helper()
	harness.RequireRoot(t)
	harness.RequireTools(t, "podman", "runc", "useradd", "userdel", "setpriv", "newuidmap", "newgidmap", "getfattr")
	r := &rootless{dir: harness.WorldDir(t), capslayer: harness.Capslayer.Path(t), probeBin: harness.Probe.Path(t)}
	harness.RequireStatic(t, r.probeBin)
	r.user = fmt.Sprintf("capsl-e2e-%d", os.Getpid()%1000000)
	home := filepath.Join(r.dir, "home")
	harness.MustRun(t, "useradd", "--home-dir", home, "--create-home", "--shell", "/bin/sh", "--user-group", r.user)
	t.Cleanup(func() {
		// Every process of this user is the test's. `podman run --rm`
		// may return while conmon and `podman container cleanup` still
		// finish: wait for them. podman's pause process (catatonit, which
		// holds the user namespace) outlives podman by design: stop it
		// by the pid it wrote.
		pause := -1
		// Under tmp_dir (containers.conf), else podman's default.
		for _, f := range []string{filepath.Join(r.dir, "run", "tmp", "pause.pid"), filepath.Join(r.dir, "run", "libpod", "tmp", "pause.pid")} {
			if b, err := os.ReadFile(f); err == nil {
				pause, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				break
			}
		}
		waitProcs := func(allowed int) []int {
			deadline := time.Now().Add(10 * time.Second)
			for {
				var left []int
				for _, pid := range uidProcs(r.uid) {
					if pid != allowed {
						left = append(left, pid)
					}
				}
				if len(left) == 0 || time.Now().After(deadline) {
					return left
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		left := waitProcs(pause)
		if pause > 0 {
			// catatonit -P ignores SIGTERM.
			_ = syscall.Kill(pause, syscall.SIGKILL)
		} else {
			t.Errorf("no pause.pid under %s", filepath.Join(r.dir, "run"))
		}
		left = append(left, waitProcs(-1)...)
		for _, pid := range left {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("process %d of %s still runs: %s", pid, r.user, strings.ReplaceAll(string(cmd), "\x00", " "))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		res := harness.Run(t, harness.Cmd{Args: []string{"userdel", "--remove", r.user}})
		if res.ExitCode != 0 {
			t.Errorf("userdel:\n%s", res)
		}
		for _, f := range []string{"/etc/subuid", "/etc/subgid", "/etc/passwd"} {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), r.user+":") {
				t.Errorf("%s still names %s", f, r.user)
			}
		}
	})
	var err error
	id := harness.MustRun(t, "id", "-u", r.user)
	if r.uid, err = strconv.Atoi(strings.TrimSpace(id.Stdout)); err != nil {
		t.Fatal(err)
	}
	if r.subuid, err = subordinate("/etc/subuid", r.user); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(r.dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(run, r.uid, r.uid); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(containersConf, run, run)
	if err := os.WriteFile(filepath.Join(r.dir, "containers.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	v := harness.MustRun(t, r.podman("version", "--format", "{{.Client.Version}}")...)
	r.version = strings.TrimSpace(v.Stdout)
	rv := harness.MustRun(t, "runc", "--version")
	if f := strings.Fields(rv.Stdout); len(f) > 2 {
		r.runc = "runc " + strings.SplitN(f[2], "+", 2)[0]
	}
	t.Logf("podman %s as %s (uid %d, subordinate ids from %d)", r.version, r.user, r.uid, r.subuid)
	return r
}

// subordinate returns the first id of user's range in /etc/subuid or
// /etc/subgid.
func subordinate(file, user string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 3 && f[0] == user {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("%s has no range for %s (useradd did not add one: check SUB_UID_COUNT in /etc/login.defs)", file, user)
}

// uidProcs lists the live (not zombie) processes whose real uid is uid.
func uidProcs(uid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), "\nState:\tZ") {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 && f[0] == strconv.Itoa(uid) {
					pids = append(pids, pid)
				}
			}
		}
	}
	return pids
}

// podman runs podman as the user, with its own configuration.
func (r *rootless) podman(args ...string) []string {
	run := filepath.Join(r.dir, "run")
	argv := []string{"setpriv", "--reuid", r.user, "--regid", r.user, "--init-groups",
		"env", "--chdir=" + r.dir, "HOME=" + filepath.Join(r.dir, "home"), "XDG_RUNTIME_DIR=" + run,
		"USER=" + r.user, "LOGNAME=" + r.user,
		"CONTAINERS_CONF=" + filepath.Join(r.dir, "containers.conf"),
		"PODMAN_IGNORE_CGROUPSV1_WARNING=1",
		"podman",
		"--root", filepath.Join(r.dir, "home", "storage"),
		"--runroot", filepath.Join(run, "storage"),
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
		"--runtime", "runc",
	}
	return append(argv, args...)
}

// image builds a probe image whose file carries capsText (v3 with rootID
// when not 0), loads it as the user and returns its reference and the
// path of the probe in the user's store.
func (r *rootless) image(t *testing.T, tag, capsText string, rootID int) (string, string) {
	t.Helper()
	ref := "localhost/capslayer-e2e-rootless:" + tag
	tarball := harness.BuildImage(t, r.capslayer, r.dir, tag, harness.ImageSpec{
		Binary: r.probeBin, Path: "/app/probe", Caps: capsText, RootID: rootID, User: "1000", Ref: ref})
	// The user reads the tarball.
	if err := os.Chmod(tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	res := harness.MustRun(t, r.podman("load", "--input", tarball)...)
	harness.WantContains(t, "podman load output", res.Output(), ref)
	// containers/storage names a base layer by its diff ID (the sha256 of
	// the layer tar, which capslayer writes uncompressed).
	b, err := os.ReadFile(filepath.Join(r.dir, tag+"-layer.tar"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	stored := filepath.Join(r.dir, "home", "storage", "vfs", "dir", hex.EncodeToString(sum[:]), "app", "probe")
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("the probe is not where the vfs store should hold it: %v", err)
	}
	return ref, stored
}

// storedCaps decodes the security.capability the kernel stored for a file
// of the store, e.g. "cap_net_bind_service=ep [rootid=1001]", or "none".
func (r *rootless) storedCaps(t *testing.T, path string) string {
	t.Helper()
	x := harness.CapXattr(t, path)
	if x == "" {
		return "none"
	}
	return strings.TrimSpace(harness.MustRun(t, r.capslayer, "decode", x).Stdout)
}

// probe runs the image as the user with --network none and the sysctl
// pinned.
func (r *rootless) probe(t *testing.T, flags []string, ref string) (harness.ProbeOutput, harness.Result) {
	t.Helper()
	r.seq++
	args := []string{"run", "--rm", "--pull", "never", "--name", fmt.Sprintf("capslayer-e2e-rootless-%d", r.seq), "--network", "none",
		"--sysctl", "net.ipv4.ip_unprivileged_port_start=" + strconv.Itoa(harness.UnprivilegedPortStart)}
	args = append(append(args, flags...), ref)
	res := harness.Run(t, harness.Cmd{Args: r.podman(args...)})
	return harness.ParseProbe(res.Stdout), res
}

// TestRootless loads images as a non-root user with rootless podman and
// checks what docs/layer-format.md says: a revision 2 value survives an
// unprivileged unpack because the kernel rewrites it as revision 3 for the
// unpacker's user namespace, so =ep works there; and a revision 3 value is
// bound to one namespace: podman's namespace re-bases its rootid, so the
// kernel ignores it in the container.
func TestRootless(t *testing.T) {
	r := newRootless(t)
	ep, epStored := r.image(t, "ep", "cap_net_bind_service=ep", 0)
	none, _ := r.image(t, "none", "", 0)
	const rootID = 1000
	v3, v3Stored := r.image(t, "v3", "cap_net_bind_service=ep", rootID)
	grant := []string{"--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"}
	drop := []string{"--cap-drop", "ALL"}
	record := func(p harness.ProbeOutput, what, notRun string) {
		matrix.Record(p.Observation("podman rootless", r.version, r.runc, what, notRun))
	}

	t.Run("v2 survives the rootless store", func(t *testing.T) {
		// The user namespace's root is the user's own uid.
		got, want := r.storedCaps(t, epStored), fmt.Sprintf("cap_net_bind_service=ep [rootid=%d]", r.uid)
		if got != want {
			t.Errorf("stored security.capability = %s, want %s (the kernel's v3 rewrite for the user's namespace)", got, want)
		}
		matrix.Record(matrix.Observation{Engine: "podman rootless", Version: r.version, Runtime: r.runc,
			Case: "`podman load` as a non-root user (vfs store) of a layer with =ep (revision 2)", Result: "stored as revision 3, rootid = the user's uid"})
	})
	t.Run("v3 rootid is re-based", func(t *testing.T) {
		// Namespace uid N is host uid subuid+N-1 (uid 0 is the user).
		got, want := r.storedCaps(t, v3Stored), fmt.Sprintf("cap_net_bind_service=ep [rootid=%d]", r.subuid+rootID-1)
		if got != want {
			t.Errorf("stored security.capability = %s, want %s", got, want)
		}
		matrix.Record(matrix.Observation{Engine: "podman rootless", Version: r.version, Runtime: r.runc,
			Case: fmt.Sprintf("`podman load` as a non-root user of a layer with =ep revision 3, rootid %d", rootID), Result: fmt.Sprintf("stored with rootid = host uid of namespace uid %d (subordinate id), not the namespace's root", rootID)})
	})

	// Without the sysctl pinned: what podman leaves in the container.
	t.Run("no xattr unpinned", func(t *testing.T) {
		r.seq++
		res := harness.Run(t, harness.Cmd{Args: r.podman("run", "--rm", "--pull", "never", "--name", fmt.Sprintf("capslayer-e2e-rootless-%d", r.seq),
			"--network", "none", "--cap-drop", "ALL", none)})
		got := harness.ParseProbe(res.Stdout)
		record(got, "no file capability; --cap-drop ALL --network none, ip_unprivileged_port_start not pinned", fmt.Sprintf("podman run exit %d", res.ExitCode))
		if !got.Ran || got.Status.CapPrm != 0 {
			t.Fatalf("the probe did not run, or with capabilities:\n%s", res)
		}
		t.Logf("bind :80 with no capability and the sysctl not pinned: %s", got.Bind)
	})

	for _, tc := range []struct {
		name, what string
		flags      []string
		ref        string
		ran        bool
		prm, amb   uint64
		bind       bool
	}{
		// The file capability applies: exec cleared the ambient set.
		{"ep granted", "=ep; --cap-drop ALL --cap-add NET_BIND_SERVICE", grant, ep, true, netBind, 0, true},
		{"ep not granted", "=ep; --cap-drop ALL", drop, ep, false, 0, 0, false},
		// podman hands --cap-add to the non-root user through the ambient
		// set: the capability works without the file's.
		{"no xattr granted", "no file capability; --cap-drop ALL --cap-add NET_BIND_SERVICE", grant, none, true, netBind, netBind, true},
		// The v3 value is ignored: the ambient set survives exec (a file
		// with applied capabilities would clear it).
		{"v3 granted", fmt.Sprintf("=ep revision 3 rootid %d; --cap-drop ALL --cap-add NET_BIND_SERVICE", rootID), grant, v3, true, netBind, netBind, true},
		{"v3 not granted", fmt.Sprintf("=ep revision 3 rootid %d; --cap-drop ALL", rootID), drop, v3, true, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, res := r.probe(t, tc.flags, tc.ref)
			notRun := fmt.Sprintf("podman run exit %d", res.ExitCode)
			if strings.Contains(res.Output(), "operation not permitted") {
				notRun = "exec fails: operation not permitted"
			}
			record(got, tc.what, notRun)
			if !tc.ran {
				if got.Ran || !strings.Contains(res.Output(), "exec /app/probe: operation not permitted") {
					t.Errorf("want exec to fail with operation not permitted:\n%s", res)
				}
				return
			}
			if !got.Ran {
				t.Fatalf("the probe did not run:\n%s", res)
			}
			st := got.Status
			if st.CapPrm != tc.prm || st.CapEff != tc.prm || st.CapAmb != tc.amb || st.Uid[0] != 1000 {
				t.Errorf("%v\nwant CapPrm and CapEff %x, CapAmb %x, uid 1000", st, tc.prm, tc.amb)
			}
			if (got.Bind == "ok") != tc.bind {
				t.Errorf("bind: %s, want bound %t:\n%s", got.Bind, tc.bind, res)
			}
		})
	}
}
