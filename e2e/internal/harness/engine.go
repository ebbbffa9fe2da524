package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
)

// Probe is the engine tests' payload (e2e/internal/probe): it prints its
// capability sets, tries to bind a port and exits; with -pause it is a pod
// sandbox's pause process.
var Probe = Binary{Env: "PROBE_BIN", Package: "./e2e/internal/probe"}

// ImageSpec describes an image FROM scratch with one program.
type ImageSpec struct {
	// Binary is the host path of the program; Path is where the image
	// holds it.
	Binary, Path string
	// Caps is the capability text of the file ("" for none); RootID, when
	// not zero, makes it a revision 3 value (capslayer layer --rootid).
	Caps   string
	RootID int
	// Entrypoint defaults to [Path]; User is the config's user.
	Entrypoint []string
	User       string
	// Ref is the tag of the docker-archive tarball.
	Ref string
}

// BuildImage writes the image with `capslayer layer` and `capslayer image
// --tarball` under dir and returns the docker-archive tarball's path.
func BuildImage(t testing.TB, capslayer, dir, name string, s ImageSpec) string {
	t.Helper()
	layer := filepath.Join(dir, name+"-layer.tar")
	args := []string{capslayer, "layer", "--output", layer}
	if s.Caps == "" {
		args = append(args, "--file", s.Path+"="+s.Binary)
	} else {
		args = append(args, "--binary", s.Binary, "--path", s.Path, "--caps", s.Caps)
	}
	if s.RootID != 0 {
		args = append(args, "--rootid", strconv.Itoa(s.RootID))
	}
	MustRun(t, args...)
	ep := s.Entrypoint
	if len(ep) == 0 {
		ep = []string{s.Path}
	}
	tarball := filepath.Join(dir, name+"-image.tar")
	img := []string{capslayer, "image", "--layer", layer,
		"--output", filepath.Join(dir, name+"-layout"), "--tarball", tarball, "--tag", s.Ref}
	for _, w := range ep {
		img = append(img, "--entrypoint", w)
	}
	if s.User != "" {
		img = append(img, "--user", s.User)
	}
	MustRun(t, img...)
	return tarball
}

// ProbeOutput is what the probe printed.
type ProbeOutput struct {
	// Ran is true when the probe printed its capability sets (it started).
	Ran    bool
	Status ProcStatus
	// Raise is "ok" or activate's first error line ("" without -raise).
	Raise string
	// Bind is "ok" or the errno text, e.g. "permission denied".
	Bind string
}

// ParseProbe reads the probe's lines out of an engine's output (which may
// hold other lines, e.g. a CRI log's prefixes are stripped by the caller).
func ParseProbe(out string) ProbeOutput {
	var p ProbeOutput
	if st, err := ParseProcStatus(out); err == nil {
		p.Ran, p.Status = true, st
		p.Status.NoNewPrivs = strings.Contains(out, "NoNewPrivs:\t1")
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "raise: "); ok {
			p.Raise = v
		}
		if v, ok := strings.CutPrefix(line, "bind: "); ok {
			p.Bind = v
		}
	}
	return p
}

// Observation turns the probe's output into a matrix row; notRun is the
// result to record when the probe never started (e.g. "exec fails:
// operation not permitted").
func (p ProbeOutput) Observation(engine, version, runtime, what, notRun string) matrix.Observation {
	o := matrix.Observation{Engine: engine, Version: version, Runtime: runtime, Case: what}
	if !p.Ran {
		o.Result = notRun
		return o
	}
	o.CapPrm, o.CapEff, o.CapAmb = matrix.Hex(p.Status.CapPrm), matrix.Hex(p.Status.CapEff), matrix.Hex(p.Status.CapAmb)
	o.NoNewPrivs = "0"
	if p.Status.NoNewPrivs {
		o.NoNewPrivs = "1"
	}
	var r []string
	if p.Raise != "" {
		r = append(r, "raise: "+p.Raise)
	}
	if p.Bind == "ok" {
		r = append(r, "binds :80")
	} else {
		r = append(r, "bind :80: "+p.Bind)
	}
	o.Result = strings.Join(r, "; ")
	return o
}

// Leftovers lists what still refers to dir: processes whose command line,
// working directory or root lies under it, and mounts below it.
func Leftovers(dir string) (pids []int, mounts []string) {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		root, _ := os.Readlink(filepath.Join("/proc", e.Name(), "root"))
		if strings.Contains(string(cmdline), dir) || under(cwd, dir) || under(root, dir) {
			pids = append(pids, pid)
		}
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && under(unescapeMount(f[4]), dir) {
			mounts = append(mounts, unescapeMount(f[4]))
		}
	}
	return pids, mounts
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// CleanUpAfter registers a cleanup, to run after the engine was stopped
// (register it before starting the engine: cleanups run last-in first-out),
// that kills the processes and unmounts the mounts an engine left under dir
// (dockerd 28 leaves its data root mounted on itself), logging each, and
// fails the test if any remains afterwards.
func CleanUpAfter(t testing.TB, dir string) {
	t.Helper()
	t.Cleanup(func() {
		var pids []int
		var mounts []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if pids, mounts = Leftovers(dir); len(pids) == 0 && len(mounts) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, pid := range pids {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Logf("killing process %d the engine left: %s", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// Deepest first.
		for i := len(mounts) - 1; i >= 0; i-- {
			t.Logf("unmounting what the engine left mounted: %s", mounts[i])
			if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", mounts[i], err)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			pids, mounts = Leftovers(dir)
			if len(pids) == 0 && len(mounts) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("still left under %s after the cleanup: processes %v, mounts %q", dir, pids, mounts)
				return
			}
		}
	})
}

// StopGracefully sends SIGTERM to p and waits up to timeout for it to exit;
// it fails the test if p has to be killed.
func StopGracefully(t testing.TB, p *Proc, timeout time.Duration) {
	t.Helper()
	if p.Exited() {
		t.Errorf("%s exited before the end of the test:\n%s", p.Args[0], p.Result())
		return
	}
	_ = syscall.Kill(p.Pid(), syscall.SIGTERM)
	select {
	case <-p.Done():
	case <-time.After(timeout):
		t.Errorf("%s did not exit within %v of SIGTERM; killing it", p.Args[0], timeout)
		p.Kill()
		<-p.Done()
	}
}

// RemoveCgroups removes the cgroup directory name (a path relative to each
// hierarchy's root, e.g. "capslayer-e2e-123") from every hierarchy under
// /sys/fs/cgroup, children first. Engines create it for their containers
// and leave it behind, empty; a directory that still holds a process is an
// error.
func RemoveCgroups(t testing.TB, name string) {
	t.Helper()
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range append(hier, "/sys/fs/cgroup") {
		root := filepath.Join(h, name)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				procs, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
				t.Errorf("removing cgroup %s: %v (processes: %q)", dirs[i], err, strings.Fields(string(procs)))
			}
		}
	}
}
