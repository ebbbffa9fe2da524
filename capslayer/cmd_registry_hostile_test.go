//go:build linux

package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/internal/registrytest"
)

// runProcess runs capslayer (this test binary as
// TestRegistryHelperProcess) with args in a process of its own and returns
// its exit code, stderr, wall time and peak resident set size in bytes.
//
// The peak is the process's own (VmHWM of its memory after exec), not
// getrusage's ru_maxrss: Go starts a child with vfork, and exec hands the
// high-water mark of the parent's memory (here the test's, with the
// servers and their hostile indexes) to the child's ru_maxrss.
func runProcess(t *testing.T, args ...string) (int, string, time.Duration, int64) {
	t.Helper()
	return startProcess(t, args...).wait(t)
}

// process is a capslayer process started by startProcess.
type process struct {
	args   []string
	cmd    *exec.Cmd
	hwm    string
	stderr bytes.Buffer
	start  time.Time
}

// startProcess starts what runProcess runs, so that a test can run several
// at once: each wait must then be called from the test's goroutine.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{args: args, hwm: filepath.Join(t.TempDir(), "hwm")}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^TestRegistryHelperProcess$", "--"}, args...)...)
	p.cmd.Env = append(os.Environ(), "CAPSLAYER_TEST_HWM="+p.hwm)
	p.cmd.Stderr = &p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("capslayer %v: %v", args, err)
	}
	return p
}

// wait returns what runProcess returns.
func (p *process) wait(t *testing.T) (int, string, time.Duration, int64) {
	t.Helper()
	err := p.cmd.Wait()
	el := time.Since(p.start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("capslayer %v: %v", p.args, err)
	}
	b, err := os.ReadFile(p.hwm)
	if err != nil {
		t.Fatalf("capslayer %v: no peak RSS: %v; stderr %s", p.args, err, p.stderr.String())
	}
	kib, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode(), p.stderr.String(), el, kib << 10
}

// TestRegistryHelperProcess runs capslayer with the arguments after "--"
// and writes its peak RSS, in KiB, to $CAPSLAYER_TEST_HWM.
func TestRegistryHelperProcess(t *testing.T) {
	out := os.Getenv("CAPSLAYER_TEST_HWM")
	if out == "" {
		t.Skip("only runs as a subprocess of runProcess")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	code := run(args, os.Stdout, os.Stderr)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if err := os.WriteFile(out, []byte(strings.TrimSuffix(strings.TrimSpace(v), " kB")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.Exit(code)
}

// hostileLimit is the peak RSS a command may reach against a hostile
// registry.
const hostileLimit = 64 << 20

// TestRegistryCommandsEndWithinTimeout: against a registry that never
// answers, every registry command ends when its --timeout passes, exit 2,
// with a message naming the deadline and the flag, within 64 MiB.
func TestRegistryCommandsEndWithinTimeout(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	s := registrytest.New(t)
	s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		s.Stall(w, r)
		return true
	})
	lay := filepath.Join(t.TempDir(), "server_image")
	imageCLI(t, capsLayerCLI(t), lay)
	ref := s.Host + "/app:1"
	flags := []string{"--ca-file", s.CAFile, "--timeout", "2s"}
	// All at once: each waits out its 2 s deadline on a registry that never
	// answers.
	var procs []*process
	for _, args := range [][]string{
		append([]string{"inspect", ref}, flags...),
		append([]string{"audit", "--profile", "pss-restricted", ref}, flags...),
		append([]string{"requirements", ref}, flags...),
		append([]string{"admission-policy", ref}, flags...),
		append([]string{"push", "--repository", ref, lay}, flags...),
		append([]string{"layer", "--from-image", ref, "--set", "/app/server=cap_net_bind_service=ep", "--output", filepath.Join(t.TempDir(), "copyup.tar")}, flags...),
		append([]string{"labels", "--base", ref, "--output", filepath.Join(t.TempDir(), "image.labels")}, flags...),
	} {
		procs = append(procs, startProcess(t, args...))
	}
	for _, p := range procs {
		name := p.args[0]
		code, stderr, el, rss := p.wait(t)
		t.Logf("%s: exit %d in %s, %.1f MiB: %s", name, code, el.Round(time.Millisecond), float64(rss)/(1<<20), stderr)
		if code != 2 || !strings.Contains(stderr, "deadline of 2s (Options.Timeout) passed") || !strings.Contains(stderr, "a slow registry needs a longer --timeout") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming the deadline and --timeout", name, code, stderr)
		}
		if el > 5*time.Second {
			t.Errorf("%s: ended after %s, --timeout 2s", name, el)
		}
		if rss > hostileLimit {
			t.Errorf("%s: peak RSS %.1f MiB, want at most 64 MiB", name, float64(rss)/(1<<20))
		}
	}
}

// TestRegistryHostileRSS: capslayer inspect against registries that loop,
// drip, or serve indexes that are huge, wide, deep or repetitive, ends
// with an error naming the bound (or, for the repetitive index, reads each
// image once), in bounded time and within 64 MiB.
func TestRegistryHostileRSS(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for _, tc := range []struct {
		name  string
		setup func(s *registrytest.Server)
		msg   string // "" for success
	}{
		{"redirect loop", func(s *registrytest.Server) {
			s.Tag("1", s.Image(1))
			s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
				return true
			})
		}, "redirects"},
		{"drip", func(s *registrytest.Server) {
			s.Tag("1", s.Image(1))
			s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == "/v2/" {
					return false
				}
				s.Drip(w, r, 1<<20, 500*time.Millisecond)
				return true
			})
		}, "deadline of 3s (Options.Timeout) passed"},
		{"index of one image 100,000 times", func(s *registrytest.Server) {
			s.Tag("1", s.Put("application/vnd.oci.image.index.v1+json", registrytest.Repeat(s.Image(1), 100_000)))
		}, "at most 4194304 bytes (MaxManifestSize)"},
		{"index of 1,000 images", func(s *registrytest.Server) {
			var c []v1.Descriptor
			for i := range 1000 {
				c = append(c, s.Image(i))
			}
			s.Tag("1", s.Index(c...))
		}, "(MaxFetches)"},
		{"indexes 50 wide, 4 deep", func(s *registrytest.Server) {
			var level []v1.Descriptor
			for i := range 50 {
				level = append(level, s.Image(i))
			}
			for range 3 {
				var up []v1.Descriptor
				for i := range 50 {
					c := append([]v1.Descriptor(nil), level...)
					c[0].Annotations = map[string]string{"n": string(rune('a' + i))}
					up = append(up, s.Index(c...))
				}
				level = up
			}
			s.Tag("1", s.Index(level...))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := registrytest.New(t)
			tc.setup(s)
			code, stderr, el, rss := runProcess(t, "inspect", "--ca-file", s.CAFile, "--timeout", "3s", s.Host+"/app:1")
			t.Logf("exit %d in %s, %d requests, %.1f MiB: %.300s", code, el.Round(time.Millisecond), s.Requests.Load(), float64(rss)/(1<<20), stderr)
			if tc.msg == "" && code != 0 || tc.msg != "" && (code != 2 || !strings.Contains(stderr, tc.msg)) {
				t.Errorf("exit %d, stderr %.1000q; want %q", code, stderr, tc.msg)
			}
			if el > 8*time.Second {
				t.Errorf("ended after %s, --timeout 3s", el)
			}
			if rss > hostileLimit {
				t.Errorf("peak RSS %.1f MiB, want at most 64 MiB", float64(rss)/(1<<20))
			}
		})
	}
}
