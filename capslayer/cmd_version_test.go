package main

import "testing"

func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)

	// Unstamped: the fixed defaults.
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || stdout != "capslayer 0.0.0-dev (commit unknown)\n" || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}

	// What -X main.version=... -X main.commit=... sets.
	version, commit = "0.1.0", "0123456789abcdef0123456789abcdef01234567"
	code, stdout, _ := runCLI(t, "version")
	if want := "capslayer 0.1.0 (commit 0123456789abcdef0123456789abcdef01234567)\n"; code != 0 || stdout != want {
		t.Errorf("stamped: exit %d, stdout %q, want %q", code, stdout, want)
	}

	if code, _, stderr := runCLI(t, "version", "extra"); code != 2 || stderr != "capslayer version: version takes no arguments\n" {
		t.Errorf("version extra: exit %d, stderr %q", code, stderr)
	}
}
