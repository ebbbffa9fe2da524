package main

import (
	"runtime/debug"
	"testing"
)

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

	// A go build in a git checkout: the commit the toolchain embedded.
	version, commit = "0.0.0-dev", "unknown"
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "6c4ae58170e5bf36ef053f6ca2746a97461c953a"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionText(bi), "capslayer 0.0.0-dev (commit 6c4ae58170e5bf36ef053f6ca2746a97461c953a, modified)\n"; got != want {
		t.Errorf("go build in a checkout: %q, want %q", got, want)
	}
	// go install module@version: the module version.
	bi = &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}
	if got, want := versionText(bi), "capslayer 0.2.0 (commit unknown)\n"; got != want {
		t.Errorf("go install @v0.2.0: %q, want %q", got, want)
	}
	// Stamped values win over the build information.
	version, commit = "0.1.0", "0123"
	if got, want := versionText(bi), "capslayer 0.1.0 (commit 0123)\n"; got != want {
		t.Errorf("stamped: %q, want %q", got, want)
	}
}
