package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds every command the tests run: a hung runtime or
// server must fail the test, not hang it.
const DefaultTimeout = 30 * time.Second

// Result is the outcome of a finished command.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int // -1 when killed by a signal
}

// String describes the command and its output for failure messages.
func (r Result) String() string {
	return fmt.Sprintf("$ %s\nexit status %d\n--- stdout\n%s--- stderr\n%s", shellQuote(r.Args), r.ExitCode, r.Stdout, r.Stderr)
}

// Output returns stdout followed by stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Cmd describes a command to run.
type Cmd struct {
	Args []string
	Env  []string // added to the test's environment
	Dir  string
	// Stdin is written to the command's standard input.
	Stdin string
	// Timeout defaults to DefaultTimeout.
	Timeout time.Duration
}

// Run runs a command to completion, bounded by its timeout; it fails the
// test only when the command cannot be started or times out. Callers check
// the exit code.
func Run(t testing.TB, c Cmd) Result {
	t.Helper()
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Dir = c.Dir
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	// A process group, so a timeout kills helpers the command started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: c.Args, Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("timed out after %v:\n%s", c.Timeout, r)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	default:
		t.Fatalf("cannot run %s: %v", shellQuote(c.Args), err)
	}
	return r
}

// MustRun runs a command and fails the test unless it exits 0.
func MustRun(t testing.TB, args ...string) Result {
	t.Helper()
	r := Run(t, Cmd{Args: args})
	if r.ExitCode != 0 {
		t.Fatalf("command failed:\n%s", r)
	}
	return r
}

// Proc is a background process, such as a server waiting for connections.
type Proc struct {
	Args []string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer // stdout
	errb bytes.Buffer // stderr
	err  error        // from Wait
}

// lockedWriter serialises writes to a buffer shared with readers.
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Start starts a background process. A cleanup kills it (and its process
// group) and waits for it, so no process outlives the test.
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	return StartWith(t, &syscall.SysProcAttr{}, args...)
}

// StartWith is Start with process attributes, such as namespaces to create.
// Setpgid is always set.
func StartWith(t testing.TB, attr *syscall.SysProcAttr, args ...string) *Proc {
	t.Helper()
	p := &Proc{Args: args, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	attr.Setpgid = true
	p.cmd.SysProcAttr = attr
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errb}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", shellQuote(args), err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		select {
		case <-p.done:
		case <-time.After(DefaultTimeout):
			t.Errorf("process %d (%s) did not exit after SIGKILL", p.Pid(), shellQuote(args))
		}
	})
	return p
}

// Pid is the process id. Tools like nsenter and setpriv exec the next
// program in the same process, so after they are done this is the pid of
// the final program.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL to the process group.
func (p *Proc) Kill() {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to exit and returns its result;
// it fails the test on timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) Result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
		<-p.done
		t.Fatalf("process did not exit within %v:\n%s", timeout, p.Result())
	}
	return p.Result()
}

// Result returns the output so far and, once the process has exited, its
// exit code (-1 while it runs or when it was killed by a signal).
func (p *Proc) Result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Result{Args: p.Args, Stdout: p.out.String(), Stderr: p.errb.String(), ExitCode: -1}
	if p.Exited() {
		r.ExitCode = 0
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			r.ExitCode = ee.ExitCode()
		}
	}
	return r
}

// Done is closed when the process exits.
func (p *Proc) Done() <-chan struct{} { return p.done }

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '/' || r == '-' || r == '_' || r == '.' || r == '=' || r == ':' || r == ',' || r == '+' ||
				r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
