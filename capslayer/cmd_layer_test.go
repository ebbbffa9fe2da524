package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/internal/testenv"
)

const layerTestdata = "layer/testdata"

// goldenFiles are the flags that produce the layer/testdata goldens (see
// layer/testdata/README.md).
func goldenFiles() []string {
	return []string{
		"--binary", layerTestdata + "/src/server", "--path", "/app/server", "--caps", "cap_net_bind_service=ep",
		"--file", "/app/tools/tcpdump=" + layerTestdata + "/src/tcpdump:cap_net_admin,cap_net_raw=ep",
		"--file", "/app-data/motd=" + layerTestdata + "/src/motd",
	}
}

// runCLI runs capslayer in-process and returns the exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestLayerGolden(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"golden.tar", goldenFiles()},
		{"golden.tar.gz", goldenFiles()},
		{"golden.tar.zst", goldenFiles()},
		{"golden-owner.tar", append(goldenFiles(), "--owner", "65532:65532", "--mode", "0750", "--mtime", "1700000000")},
		{"golden-rootid.tar", []string{"--binary", layerTestdata + "/src/nstool", "--path", "/opt/nstool", "--caps", "cap_net_bind_service=p", "--rootid", "1000"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tc.golden)
			code, stdout, stderr := runCLI(t, append([]string{"layer", "--output", out}, tc.args...)...)
			if code != 0 || stdout != "" || stderr != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and no output", code, stdout, stderr)
			}
			got, _ := os.ReadFile(out)
			want, err := os.ReadFile(filepath.Join(layerTestdata, tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("capslayer layer output differs from %s (%d bytes, want %d)", tc.golden, len(got), len(want))
			}
		})
	}
}

func TestLayerMtimeSources(t *testing.T) {
	golden := filepath.Join(layerTestdata, "golden-owner.tar")
	want, _ := os.ReadFile(golden)
	owner := []string{"--owner", "65532:65532", "--mode", "0750"}
	for _, tc := range []struct {
		name, env string
		args      []string
		same      bool
	}{
		{"SOURCE_DATE_EPOCH", "1700000000", nil, true},
		{"--mtime wins over SOURCE_DATE_EPOCH", "5", []string{"--mtime", "1700000000"}, true},
		{"SOURCE_DATE_EPOCH ignored with --mtime", "1700000000", []string{"--mtime", "0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.env)
			out := filepath.Join(t.TempDir(), "l.tar")
			args := append(append(append([]string{"layer", "--output", out}, goldenFiles()...), owner...), tc.args...)
			if code, _, stderr := runCLI(t, args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got, _ := os.ReadFile(out)
			if bytes.Equal(got, want) != tc.same {
				t.Errorf("output equal to %s: %v, want %v", golden, !tc.same, tc.same)
			}
		})
	}
}

// TestLayerDescriptor checks --descriptor and --print-digest against digests
// recomputed from the written bytes.
func TestLayerDescriptor(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	dir := t.TempDir()
	out, desc := filepath.Join(dir, "l.tar.gz"), filepath.Join(dir, "l.json")
	code, stdout, stderr := runCLI(t, append([]string{"layer", "--output", out, "--descriptor", desc, "--print-digest"}, goldenFiles()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
	if stdout != digest+"\n" {
		t.Errorf("--print-digest printed %q, want %q", stdout, digest+"\n")
	}
	plain, _ := os.ReadFile(filepath.Join(layerTestdata, "golden.tar"))
	var d struct {
		MediaType, Digest, DiffID string
		Size                      int64
		Files                     []struct{ Path, Caps, Xattr string }
	}
	js, _ := os.ReadFile(desc)
	if err := json.Unmarshal(bytes.ReplaceAll(js, []byte(`"diff_id"`), []byte(`"DiffID"`)), &d); err != nil {
		t.Fatal(err)
	}
	if d.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" || d.Digest != digest || d.Size != int64(len(b)) ||
		d.DiffID != fmt.Sprintf("sha256:%x", sha256.Sum256(plain)) {
		t.Errorf("descriptor = %+v; want digest %s size %d", d, digest, len(b))
	}
	if len(d.Files) != 3 || d.Files[1].Path != "/app/tools/tcpdump" || d.Files[1].Caps != "cap_net_admin,cap_net_raw=ep" || d.Files[1].Xattr != "0100000200300000000000000000000000000000" {
		t.Errorf("descriptor files = %+v", d.Files)
	}
}

func TestLayerCapsForms(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, []byte("\x7fELF"), 0o755)
	for _, tc := range []struct{ caps, canonical string }{
		{"cap_net_bind_service=ep", "cap_net_bind_service=ep"},
		{"CAP_NET_BIND_SERVICE+ep", "cap_net_bind_service=ep"},
		{"NET_BIND_SERVICE", "cap_net_bind_service=p"},
		{"net_raw,bpf", "cap_net_raw,cap_bpf=p"},
	} {
		out, desc := filepath.Join(dir, "l.tar"), filepath.Join(dir, "l.json")
		code, _, stderr := runCLI(t, "layer", "--binary", bin, "--path", "/bin/x", "--caps", tc.caps, "--output", out, "--descriptor", desc)
		if code != 0 {
			t.Fatalf("--caps %q: exit %d: %s", tc.caps, code, stderr)
		}
		js, _ := os.ReadFile(desc)
		if !strings.Contains(string(js), `"caps": "`+tc.canonical+`"`) {
			t.Errorf("--caps %q: descriptor %s, want caps %q", tc.caps, js, tc.canonical)
		}
	}
}

func TestParseFileFlag(t *testing.T) {
	for _, tc := range []struct {
		in, dest, src, caps string
	}{
		{"/a=b", "/a", "b", ""},
		{"/a=b:", "/a", "b", ""},
		{"/a=b:cap_net_raw=ep", "/a", "b", "cap_net_raw=ep"},
		{"/a=dir:with:colons/b:", "/a", "dir:with:colons/b", ""},
		{"/a=dir:with:colons/b:NET_RAW", "/a", "dir:with:colons/b", "cap_net_raw=p"},
		{"/a=b=c:cap_chown=p", "/a", "b=c", "cap_chown=p"},
		{"/a=b:cap_chown=p cap_kill+p", "/a", "b", "cap_chown,cap_kill=p"},
	} {
		f, err := parseFileFlag(tc.in, 0)
		if err != nil {
			t.Errorf("parseFileFlag(%q): %v", tc.in, err)
			continue
		}
		text := ""
		if f.Caps != nil {
			text = f.Caps.String()
			if f.Caps.Revision != 2 {
				t.Errorf("parseFileFlag(%q): revision %d, want 2", tc.in, f.Caps.Revision)
			}
		}
		if f.Path != tc.dest || f.Source != tc.src || text != tc.caps {
			t.Errorf("parseFileFlag(%q) = %q %q %q, want %q %q %q", tc.in, f.Path, f.Source, text, tc.dest, tc.src, tc.caps)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"/a", "want DEST=SRC or DEST=SRC:CAPS"},
		{"=b", "want DEST=SRC"},
		{"/a=", "want DEST=SRC"},
		{"/a=:cap_chown=p", "the source before ':' is empty"},
		{"/a=dir:with/b", "if the source path contains ':', end it with ':' or ':CAPS'"},
	} {
		if _, err := parseFileFlag(tc.in, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFileFlag(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

// TestLayerErrors runs bad invocations: each must exit 2 with a message
// naming the problem, and leave nothing in the output directory.
func TestLayerErrors(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	in := t.TempDir()
	bin := filepath.Join(in, "bin")
	os.WriteFile(bin, []byte("\x7fELF"), 0o755)
	script := filepath.Join(in, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	ok := []string{"--binary", bin, "--path", "/app/bin", "--caps", "cap_net_bind_service=ep"}
	for _, tc := range []struct {
		name string
		args []string // "OUT" is replaced by a path in an empty directory
		env  string   // SOURCE_DATE_EPOCH
		want string
	}{
		{"no output", ok, "", "--output is required"},
		{"nothing", []string{"--output", "OUT.tar"}, "", "nothing to put in the layer"},
		{"missing caps", []string{"--binary", bin, "--path", "/a", "--output", "OUT.tar"}, "", "--caps missing"},
		{"missing path and caps", []string{"--binary", bin, "--output", "OUT.tar"}, "", "--path and --caps missing"},
		{"bad caps", []string{"--output", "OUT.tar", "--binary", bin, "--path", "/a", "--caps", "cap_net_bind_servic=ep"}, "", "--caps: "},
		{"empty caps", []string{"--output", "OUT.tar", "--binary", bin, "--path", "/a", "--caps", "="}, "", "--caps: "},
		{"relative path", []string{"--output", "OUT.tar", "--binary", bin, "--path", "app/bin", "--caps", "cap_chown=p"}, "", `destination "app/bin" is not absolute: use "/app/bin"`},
		{"dotdot path", []string{"--output", "OUT.tar", "--binary", bin, "--path", "/app/../bin", "--caps", "cap_chown=p"}, "", `use "/bin"`},
		{"trailing slash", []string{"--output", "OUT.tar", "--binary", bin, "--path", "/app/", "--caps", "cap_chown=p"}, "", `ends with "/"`},
		{"duplicate", append(ok, "--output", "OUT.tar", "--file", "/app/bin="+bin), "", "given twice"},
		{"missing source", []string{"--output", "OUT.tar", "--binary", in + "/nope", "--path", "/a", "--caps", "cap_chown=p"}, "", "does not exist"},
		{"directory source", []string{"--output", "OUT.tar", "--binary", in, "--path", "/a", "--caps", "cap_chown=p"}, "", "is a directory"},
		{"script", []string{"--output", "OUT.tar", "--binary", script, "--path", "/a", "--caps", "cap_chown=p"}, "", "pass --allow-script to store them anyway"},
		{"bad mode", append(ok, "--output", "OUT.tar", "--mode", "0999"), "", `--mode "0999"`},
		{"big mode", append(ok, "--output", "OUT.tar", "--mode", "17777"), "", `--mode "17777"`},
		{"bad owner", append(ok, "--output", "OUT.tar", "--owner", "nobody"), "", `--owner "nobody": want numeric UID:GID`},
		{"bad mtime", append(ok, "--output", "OUT.tar", "--mtime", "-1"), "", `--mtime "-1"`},
		{"bad SOURCE_DATE_EPOCH", append(ok, "--output", "OUT.tar"), "yesterday", `SOURCE_DATE_EPOCH="yesterday"`},
		{"rootid 0", append(ok, "--output", "OUT.tar", "--rootid", "0"), "", "--rootid \"0\": want a host uid from 1 to 4294967294"},
		{"unknown extension", append(ok, "--output", "OUT.layer"), "", "cannot tell the compression from the name"},
		{"compression mismatch", append(ok, "--output", "OUT.tar.gz", "--compression", "zstd"), "", "--compression zstd does not match"},
		{"compression none mismatch", append(ok, "--output", "OUT.tar", "--compression", "gzip"), "", "names an uncompressed layer"},
		{"bad compression", append(ok, "--output", "OUT.tar", "--compression", "xz"), "", `unknown compression "xz"`},
		{"output dir missing", append(ok, "--output", "OUT/sub/l.tar"), "", "does not exist: create it first"},
		{"positional", append(ok, "--output", "OUT.tar", "extra"), "", `unexpected argument "extra"`},
		{"bad file flag", append(ok, "--output", "OUT.tar", "--file", "nodest"), "", `--file "nodest"`},
		{"descriptor is output", append(ok, "--output", "OUT.tar", "--descriptor", "OUT.tar"), "", "is the layer output too"},
		{"path of 4096 bytes", []string{"--output", "OUT.tar", "--file", strings.Repeat("/"+strings.Repeat("d", 255), 16) + "=" + bin}, "", "is 4096 bytes long"},
		{"name of 256 bytes", []string{"--output", "OUT.tar", "--file", "/app/" + strings.Repeat("n", 256) + "=" + bin}, "", "has a name of 256 bytes"},
		{"whiteout name with caps", []string{"--output", "OUT.tar", "--binary", bin, "--path", "/app/.wh.server", "--caps", "cap_chown=p"}, "", `whiteout name ".wh.server"`},
		{"opaque whiteout without caps", []string{"--output", "OUT.tar", "--file", "/app/.wh..wh..opq=" + bin}, "", `whiteout name ".wh..wh..opq"`},
		{"newline in path", []string{"--output", "OUT.tar", "--binary", bin, "--path", "/app/a\nb", "--caps", "cap_chown=p"}, "", `"/app/a\nb" contains the non-printable character U+000A`},
		{"escape in path", []string{"--output", "OUT.tar", "--file", "/app/\x1b[31mred=" + bin}, "", `"/app/\x1b[31mred" contains the non-printable character U+001B`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.env)
			outDir := t.TempDir()
			args := []string{"layer"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "OUT", filepath.Join(outDir, "l")))
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "capslayer layer: ") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and an error containing %q", code, stdout, stderr, tc.want)
			}
			ents, _ := os.ReadDir(outDir)
			for _, e := range ents {
				t.Errorf("left behind: %s", e.Name())
			}
		})
	}
}

func TestLayerAllowScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	out := filepath.Join(dir, "l.tar")
	code, stdout, stderr := runCLI(t, "layer", "--binary", script, "--path", "/run.sh", "--caps", "cap_chown=p", "--allow-script", "--output", out)
	if code != 0 || stdout != "" || !strings.HasPrefix(stderr, "capslayer layer: warning: /run.sh: ") || !strings.Contains(stderr, "the kernel ignores file capabilities on scripts") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and a warning", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}

// TestLayerHelperProcess is capslayer itself when run by
// TestLayerHostIndependent or the kill tests; otherwise it does nothing.
func TestLayerHelperProcess(t *testing.T) {
	if os.Getenv("CAPSLAYER_TEST_HELPER") != "1" {
		t.Skip("only runs as a subprocess of TestLayerHostIndependent")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	atomicfile.HandleSignals() // as main does
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// TestLayerHostIndependent runs capslayer as separate processes under a
// different umask, time zone and locale, from sources with different
// mtimes, permissions and owners, and expects identical outputs. The test
// binary re-runs itself, through $CAPSLAYER_TEST_EXEC when set (an emulator
// such as qemu-aarch64-static, as for go test -exec).
func TestLayerHostIndependent(t *testing.T) {
	testenv.RequireTools(t, "sh") // to set the umask
	type host struct {
		umask, tz, lang string
		mtime           time.Time
		perm            os.FileMode
		uid             int
	}
	var sums []string
	for i, h := range []host{
		{"022", "UTC", "C", time.Unix(0, 0), 0o755, 0},
		{"077", "Pacific/Kiritimati", "de_DE.UTF-8", time.Now(), 0o700, 4321},
	} {
		dir := t.TempDir()
		srcs := map[string]string{"server": "", "tcpdump": "", "motd": ""}
		for name := range srcs {
			b, err := os.ReadFile(filepath.Join(layerTestdata, "src", name))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, name)
			os.WriteFile(p, b, h.perm)
			os.Chmod(p, h.perm)
			os.Chtimes(p, h.mtime, h.mtime)
			if os.Geteuid() == 0 {
				os.Chown(p, h.uid, h.uid)
			}
			srcs[name] = p
		}
		out := filepath.Join(dir, "layer.tar.gz")
		desc := filepath.Join(dir, "layer.json")
		cmd := exec.Command("sh", "-c", `umask "$0"; exec $CAPSLAYER_TEST_EXEC "$@"`, h.umask,
			os.Args[0], "-test.run=^TestLayerHelperProcess$", "--",
			"layer", "--output", out, "--descriptor", desc,
			"--binary", srcs["server"], "--path", "/app/server", "--caps", "cap_net_bind_service=ep",
			"--file", "/app/tools/tcpdump="+srcs["tcpdump"]+":cap_net_admin,cap_net_raw=ep",
			"--file", "/app-data/motd="+srcs["motd"])
		cmd.Env = append(os.Environ(), "CAPSLAYER_TEST_HELPER=1", "TZ="+h.tz, "LANG="+h.lang, "LC_ALL="+h.lang, "SOURCE_DATE_EPOCH=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, b)
		}
		layerBytes, _ := os.ReadFile(out)
		descBytes, _ := os.ReadFile(desc)
		sums = append(sums, fmt.Sprintf("%x %x", sha256.Sum256(layerBytes), sha256.Sum256(descBytes)))
		for _, p := range []string{out, desc} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("run %d: %s mode = %v, %v; want 0644 whatever the umask", i, p, fi.Mode(), err)
			}
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("outputs differ between hosts:\n%s\n%s", sums[0], sums[1])
	}
	want, _ := os.ReadFile(filepath.Join(layerTestdata, "golden.tar.gz"))
	if got := strings.Fields(sums[0])[0]; got != fmt.Sprintf("%x", sha256.Sum256(want)) {
		t.Errorf("layer sha256 %s, want that of golden.tar.gz", got)
	}
}

// TestLayerFromTar runs layer --from-tar on a GNU tar: the capability is
// set, the descriptor lists it, and a missing path or a mixed flag is a
// usage or input error with nothing written.
func TestLayerFromTar(t *testing.T) {
	testenv.RequireTools(t, "tar")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "src/bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "src/bin/ping"), []byte("\x7fELF"), 0o755)
	in := filepath.Join(dir, "in.tar")
	if b, err := exec.Command("tar", "--format=gnu", "-cf", in, "-C", filepath.Join(dir, "src"), ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	out, desc := filepath.Join(dir, "out.tar.zst"), filepath.Join(dir, "out.json")
	code, stdout, stderr := runCLI(t, "layer", "--from-tar", in, "--set", "/bin/ping=cap_net_raw=p", "--output", out, "--descriptor", desc, "--print-digest")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	d, _ := os.ReadFile(desc)
	if !strings.Contains(string(d), `"caps": "cap_net_raw=p"`) || !strings.Contains(string(d), strings.TrimSpace(stdout)) || !strings.Contains(string(d), "tar+zstd") {
		t.Errorf("descriptor %s, digest %s", d, stdout)
	}
	code, _, stderr = runCLI(t, "inspect", out)
	if code != 0 {
		t.Errorf("inspect: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-tar", in, "--set", "/bin/nope=cap_net_raw=p", "--output", filepath.Join(dir, "x.tar")}, "/bin/nope: is not in the tar"},
		{[]string{"--from-tar", in, "--set", "/bin=cap_net_raw=p", "--output", filepath.Join(dir, "x.tar")}, "/bin: is a directory in the tar"},
		{[]string{"--from-tar", in, "--set", "/bin/ping", "--output", filepath.Join(dir, "x.tar")}, `--set "/bin/ping": want PATH=CAPS`},
		{[]string{"--from-tar", in, "--output", filepath.Join(dir, "x.tar")}, "--from-tar IN and --set PATH=CAPS go together"},
		{[]string{"--from-tar", in, "--set", "/bin/ping=cap_net_raw=p", "--mode", "0700", "--output", filepath.Join(dir, "x.tar")}, "--mode does not go with --from-tar"},
	} {
		code, _, stderr := runCLI(t, append([]string{"layer"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("layer %q: exit %d, %s; want %q", tc.args, code, stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); err == nil {
		t.Error("a failed run wrote x.tar")
	}
}

// TestLayerFromTarStrict: --from-tar refuses a setuid, setgid or
// world-writable --set target as --binary refuses such a --mode, warns when
// it replaces capabilities, and its descriptor lists the capabilities the
// tar already had.
func TestLayerFromTarStrict(t *testing.T) {
	dir := t.TempDir()
	admin := "\x01\x00\x00\x02\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" // cap_sys_admin=ep
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeReg, Name: "bin/ping", Mode: 0o4755, Format: tar.FormatPAX, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": admin}},
		{Typeflag: tar.TypeReg, Name: "bin/helper", Mode: 0o755, Format: tar.FormatPAX, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": admin}},
	} {
		h.Size = 4
		tw.WriteHeader(h)
		tw.Write([]byte("\x7fELF"))
	}
	tw.Close()
	in := filepath.Join(dir, "in.tar")
	os.WriteFile(in, buf.Bytes(), 0o644)
	out, desc := filepath.Join(dir, "out.tar"), filepath.Join(dir, "out.json")
	args := []string{"layer", "--from-tar", in, "--set", "/bin/ping=cap_net_raw=p", "--output", out, "--descriptor", desc}

	code, _, stderr := runCLI(t, args...)
	if code != 2 || !strings.Contains(stderr, "capslayer layer: /bin/ping: capabilities on a setuid, setgid or world-writable file: the input gives it mode 4755, which sets setuid,") ||
		!strings.Contains(stderr, "pass --allow-unsafe-mode") {
		t.Errorf("setuid target: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run wrote the layer")
	}
	// caps_layer passes --hint-style bazel: the fix is its attribute.
	code, _, stderr = runCLI(t, append(args, "--hint-style", "bazel")...)
	if code != 2 || !strings.HasSuffix(stderr, "; or set allow_unsafe_mode = True to store it anyway\n") || strings.Contains(stderr, "--allow-unsafe-mode") {
		t.Errorf("setuid target, Bazel words: exit %d, %s", code, stderr)
	}

	code, _, stderr = runCLI(t, append(args, "--allow-unsafe-mode")...)
	if code != 0 {
		t.Fatalf("--allow-unsafe-mode: exit %d: %s", code, stderr)
	}
	if want := "capslayer layer: warning: /bin/ping had the capabilities cap_sys_admin=ep in the input; the layer gives it cap_net_raw=p instead\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	js, _ := os.ReadFile(desc)
	var d struct {
		Files []struct{ Path, Caps, Origin string } `json:"files"`
	}
	if err := json.Unmarshal(js, &d); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(d.Files)
	if want := "[{/bin/ping cap_net_raw=p set} {/bin/helper cap_sys_admin=ep input}]"; got != want {
		t.Errorf("descriptor files %s, want %s\n%s", got, want, js)
	}
}
