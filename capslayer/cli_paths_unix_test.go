//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInputFlagsRefuseFIFO gives a named pipe to every input path flag and
// positional argument of every command: each must be refused at once, with
// exit status 2, naming what it is.
func TestInputFlagsRefuseFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var covered int
	for name, c := range allFlagSets(t) {
		var cases [][]string
		for _, f := range c.paths {
			if !f.role.output() {
				cases = append(cases, cmdArgs(name, "--"+f.name, fifo))
			}
		}
		if !c.argsAreText {
			cases = append(cases, cmdArgs(name, fifo))
		}
		for _, args := range cases {
			covered++
			code, stderr := runTimed(t, 10*time.Second, args...)
			if code != 2 || !strings.Contains(stderr, "named pipe (FIFO)") {
				t.Errorf("capslayer %s: exit %d, stderr %q; want 2 and a refusal naming the named pipe", strings.Join(args, " "), code, stderr)
			}
		}
	}
	if covered < 10 {
		t.Errorf("only %d path inputs covered", covered)
	}
}
