//go:build unix

package atomicfile

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperProcess is a writer of a pair when run by the tests below:
// ATOMICFILE_HELPER=KILLSTEP DIR. It writes version "new" and kills itself
// with SIGKILL at the commit step KILLSTEP, or waits for a signal while
// writing when KILLSTEP is "wait".
func TestHelperProcess(t *testing.T) {
	step := os.Getenv("ATOMICFILE_HELPER")
	if step == "" {
		t.Skip("only runs as a subprocess of the kill tests")
	}
	dir := os.Args[len(os.Args)-1]
	HandleSignals()
	testHook = func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
	p, err := CreatePair(filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprint(p.First, "layer new")
	fmt.Fprint(p.Second, "desc new")
	if step == "wait" {
		fmt.Println("writing")
		time.Sleep(time.Minute)
	}
	if err := p.Commit(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func helper(t *testing.T, step, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "--", dir)
	cmd.Env = append(os.Environ(), "ATOMICFILE_HELPER="+step)
	return cmd
}

// TestKillDuringPairCommit kills a writer with SIGKILL between the renames
// of a pair commit: the descriptor must be absent or match the layer, and
// the next writer must leave no litter.
func TestKillDuringPairCommit(t *testing.T) {
	for _, tc := range []struct{ step, layer, desc string }{
		{"second removed", "layer old", ""},
		{"first renamed", "layer new", ""},
	} {
		t.Run(strings.ReplaceAll(tc.step, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			l, d := filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.json")
			os.WriteFile(l, []byte("layer old"), 0o644)
			os.WriteFile(d, []byte("desc old"), 0o644)
			err := helper(t, tc.step, dir).Run()
			if ws, ok := err.(*exec.ExitError); !ok || ws.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper: %v, want killed by SIGKILL", err)
			}
			lb, _ := os.ReadFile(l)
			db, _ := os.ReadFile(d)
			if string(lb) != tc.layer || string(db) != tc.desc {
				t.Errorf("after a kill at %q: layer %q, descriptor %q; want %q, %q", tc.step, lb, db, tc.layer, tc.desc)
			}
			if n := names(t, dir); len(n) <= 2 {
				t.Errorf("a SIGKILL at %q left no temporary file: %q (is the test killing at all?)", tc.step, n)
			}
			if err := helper(t, "none", dir).Run(); err != nil {
				t.Fatal(err)
			}
			if n := names(t, dir); !slices.Equal(n, []string{"l.json", "l.tar"}) {
				t.Errorf("after the next run the directory holds %q, want only l.json and l.tar", n)
			}
		})
	}
}

// TestSignalRemovesTemporaries: SIGTERM, SIGINT and SIGHUP while writing
// leave no temporary or lock file, and end the process by that signal.
func TestSignalRemovesTemporaries(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd := helper(t, "wait", dir)
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 7)
			if _, err := out.Read(b); err != nil || string(b) != "writing" {
				t.Fatalf("helper said %q, %v", b, err)
			}
			if n := names(t, dir); len(n) != 4 {
				t.Fatalf("while writing the directory holds %q, want 2 temporaries and 2 locks", n)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			ws, ok := err.(*exec.ExitError)
			switch {
			case signal.Ignored(sig):
				// Under nohup (SIGHUP) or a shell's background job (SIGINT)
				// the helper inherits the ignored disposition: re-raising
				// the signal cannot end it, so it exits with 128+signal.
				if !ok || ws.ExitCode() != 128+int(sig) {
					t.Errorf("helper: %v, want exit status %d (%v is ignored here)", err, 128+int(sig), sig)
				}
			case !ok || ws.Sys().(syscall.WaitStatus).Signal() != sig:
				t.Errorf("helper: %v, want killed by %v", err, sig)
			}
			if n := names(t, dir); len(n) != 0 {
				t.Errorf("after %v the directory holds %q, want nothing", sig, n)
			}
		})
	}
}
