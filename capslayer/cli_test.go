package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every subcommand takes its flags after the positional arguments too.
// Regression: "capslayer inspect x.tar --json" was a usage error.
func TestFlagsAfterPath_inspect_x_tar_json(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	golden := filepath.Join(layerTestdata, "golden.tar")
	single := filepath.Join(t.TempDir(), "single")
	if code, _, stderr := runCLI(t, "image", "--layer", golden, "--entrypoint", "/app/server", "--output", single); code != 0 {
		t.Fatalf("image: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout
	}{
		{[]string{"inspect", golden, "--json"}, 0, `"kind": "layer"`},
		{[]string{"encode", "cap_chown=p", "--rootid", "1000"}, 0, "0000000301000000000000000000000000000000e8030000\n"},
		{[]string{"audit", golden, "--profile", "none", "--allow", "NET_BIND_SERVICE,NET_ADMIN,NET_RAW", "--json"}, 1, `"kind": "layer"`},
		{[]string{"requirements", golden, "--only", "capabilities"}, 0, "NET_BIND_SERVICE,NET_ADMIN,NET_RAW\n"},
		{[]string{"image", "index", single, "--output", filepath.Join(t.TempDir(), "index")}, 0, "sha256:"},
		{[]string{"decode", "0100000200040000000000000000000000000000", "--"}, 0, "cap_net_bind_service=ep\n"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.want) {
			t.Errorf("capslayer %q: exit %d, stdout %q, stderr %q; want %d and stdout containing %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
}

// Regression: "--caps cap_chown=p --caps cap_kill=p" stored cap_kill=p,
// the last value winning silently. A single-value flag given twice is an
// error naming it, in every subcommand; repeatable flags still repeat.
func TestRepeatedFlag_caps_chown_then_caps_kill(t *testing.T) {
	out := filepath.Join(t.TempDir(), "l.tar")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"layer", "--binary", layerTestdata + "/src/server", "--path", "/app/server", "--caps", "cap_chown=p", "--caps", "cap_kill=p", "--output", out}, "--caps"},
		{[]string{"encode", "--rootid", "1", "--rootid=2", "cap_chown=p"}, "--rootid"},
		{[]string{"inspect", "--json", "x.tar", "--json"}, "--json"},
		{[]string{"audit", "--profile", "none", "x.tar", "--profile", "docker-default"}, "--profile"},
		{[]string{"image", "--output", out, "--output", out, "--layer", out}, "--output"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if want := "capslayer " + tc.args[0] + ": " + tc.flag + " given twice: give it once"; code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("capslayer %q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, want)
		}
	}
	if code, _, stderr := runCLI(t, append([]string{"layer", "--output", out}, goldenFiles()...)...); code != 0 {
		t.Errorf("repeated --file: exit %d, stderr %q", code, stderr)
	}
}

// Regression: an error echoed a whole 128 KiB argument. Every echoed
// value is abbreviated with its length.
func TestLongArgument_128KiB(t *testing.T) {
	long := strings.Repeat("a", 128<<10)
	out := filepath.Join(t.TempDir(), "l.tar")
	for _, args := range [][]string{
		{"encode", long},
		{"encode", "--rootid", long, "cap_chown=p"},
		{"decode", long},
		{"inspect", long},
		{"layer", "--binary", long, "--path", "/x", "--caps", "cap_chown=p", "--output", out},
		{"layer", "--file", "/x=" + long, "--output", out},
		{"layer", "--file=/x=y:" + long, "--output", out},
		{"layer", "--mode", long, "--file", "/x=y", "--output", out},
		{"audit", "--allow", long, "x.tar"},
		{"image", "--layer", long, "--output", out},
		{"encode", "--" + long},
		{long},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 2 || len(stderr) > 2048 || len(stdout) > 0 {
			t.Errorf("capslayer %.40q...: exit %d, %d bytes on stdout, stderr (%d bytes) %.300q; want 2 and at most 2048 bytes", args, code, len(stdout), len(stderr), stderr)
		}
	}
}

// Every subcommand prints its usage with the same renderer: synopsis,
// text, flags.
func TestUsage(t *testing.T) {
	for name := range commands {
		code, stdout, stderr := runCLI(t, name, "--help")
		if code != 0 || stdout != "" || !strings.HasPrefix(stderr, "Usage: capslayer "+name+" ") {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
		}
		if name != "decode" && name != "version" && !strings.Contains(stderr, "\n\nFlags:\n  --") {
			t.Errorf("%s --help lists no flags, or lists them with one dash:\n%s", name, stderr)
		}
		if regexp.MustCompile(`(?m)^  -[a-z]`).MatchString(stderr) {
			t.Errorf("%s --help lists a flag with one dash:\n%s", name, stderr)
		}
		// "capslayer help CMD" prints exactly what "capslayer CMD --help" does.
		hcode, hstdout, hstderr := runCLI(t, "help", name)
		if hcode != code || hstdout != stdout || hstderr != stderr {
			t.Errorf("help %s differs from %s --help: exit %d, stderr %q", name, name, hcode, hstderr)
		}
	}
}

// A mistyped flag or command gets the one it most likely meant.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inpsect", "x.tar"}, `capslayer: unknown command "inpsect": did you mean inspect?`},
		{[]string{"requirments"}, `did you mean requirements?`},
		{[]string{"layer", "--outptu", "x"}, `capslayer layer: unknown flag "--outptu": did you mean --output?`},
		{[]string{"audit", "--profle=none", "x"}, `did you mean --profile?`},
		{[]string{"audit", "--zzzzzzzzzz", "x"}, `unknown flag "--zzzzzzzzzz"; put -- before an argument that starts with '-'`},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// Regressions: "layer --mode 07777" with capabilities and "--mtime
// 9223372036854775807" were accepted without a word.
func TestLayer_mode_07777_and_mtime_9223372036854775807(t *testing.T) {
	out := filepath.Join(t.TempDir(), "l.tar")
	base := []string{"layer", "--binary", layerTestdata + "/src/server", "--path", "/app/server", "--caps", "cap_net_bind_service=ep", "--output", out}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--mode", "07777"}, 2, "capslayer layer: /app/server: capabilities on a setuid, setgid or world-writable file: mode 7777 sets setuid, setgid, world-writable; use a mode without them, e.g. 0755; or pass --allow-unsafe-mode to store it anyway\n"},
		{[]string{"--mode", "07777", "--allow-unsafe-mode"}, 0, ""},
		{[]string{"--mtime", "9223372036854775807"}, 2, "capslayer layer: modification time out of range: 9223372036854775807 is after 8589934591 (2242-03-16), the latest time a plain tar header holds; check --mtime or SOURCE_DATE_EPOCH\n"},
		{[]string{"--mtime", "8589934591"}, 0, ""},
	} {
		code, _, stderr := runCLI(t, append(base, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// Regression: audit said nothing about a setuid or world-writable file
// that carries capabilities (a layer written with --mode 07777).
func TestAudit_mode_07777(t *testing.T) {
	out := filepath.Join(t.TempDir(), "l.tar")
	if code, _, stderr := runCLI(t, "layer", "--binary", layerTestdata+"/src/server", "--path", "/app/server", "--caps", "cap_net_bind_service=ep", "--output", out, "--mode", "07777", "--allow-unsafe-mode"); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runCLI(t, "audit", out, "--profile", "docker-default")
	if want := "/app/server NET_BIND_SERVICE [unsafe-mode]"; code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stdout, "mode 7777: it is setuid, setgid, world-writable") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, %q", code, stdout, stderr, want)
	}
}
