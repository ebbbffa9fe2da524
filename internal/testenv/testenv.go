// Package testenv decides what a test does when its environment lacks
// something it needs (a tool, root): skip on a developer's machine, fail in
// CI, where every prerequisite is installed and every test must run.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// StrictEnv is the environment variable that turns missing prerequisites
// into test failures instead of skips. CI=true does the same.
const StrictEnv = "CAPSLAYER_E2E_STRICT"

// Strict reports whether missing prerequisites must fail the test.
func Strict() bool {
	for _, k := range []string{StrictEnv, "CI"} {
		if v := os.Getenv(k); v != "" && v != "0" && v != "false" {
			return true
		}
	}
	return false
}

// SkipOrFail skips the test with the reason, or fails it in strict mode.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("%s (CI or %s is set, so a missing prerequisite is an error)", msg, StrictEnv)
	}
	t.Skip(msg)
}

// RequireTools skips (or in strict mode fails) the test unless every named
// tool is on PATH, and returns their resolved paths in order.
func RequireTools(t testing.TB, names ...string) []string {
	t.Helper()
	return RequireToolsHint(t, ".ci/run's apt line installs them", names...)
}

// RequireToolsHint is RequireTools with hint, which says where the tools
// come from, in the message.
func RequireToolsHint(t testing.TB, hint string, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	var missing []string
	for i, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			missing = append(missing, n)
			continue
		}
		paths[i] = p
	}
	if len(missing) > 0 {
		SkipOrFail(t, "tools not found on PATH: %v (%s)", missing, hint)
	}
	return paths
}

// RequireRoot skips (or in strict mode fails) the test unless it runs as
// root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root: %s", why)
	}
}
