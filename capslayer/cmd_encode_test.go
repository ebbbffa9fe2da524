package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// runEncodeCLI runs capslayer in-process and returns the exit status and
// output.
func runEncodeCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestEncodeDecode(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string // substring
	}{
		{args: []string{"encode", "cap_net_bind_service=ep"}, stdout: "0100000200040000000000000000000000000000\n"},
		{args: []string{"encode", "cap_net_bind_service=p"}, stdout: "0000000200040000000000000000000000000000\n"},
		{args: []string{"encode", "NET_BIND_SERVICE"}, stdout: "0000000200040000000000000000000000000000\n"},
		{args: []string{"encode", "[NET_RAW, BPF]"}, stdout: "0000000200200000000000008000000000000000\n"},
		{args: []string{"encode", "--", "- NET_RAW\n- BPF"}, stdout: "0000000200200000000000008000000000000000\n"},
		{args: []string{"encode", "all=ep"}, stdout: "01000002ffffffff00000000ff01000000000000\n"},
		{args: []string{"encode", "--rootid", "1000", "cap_chown=ep"}, stdout: "0100000301000000000000000000000000000000e8030000\n"},
		{args: []string{"encode", "-rootid=4294967294", "cap_sys_admin=eip"}, stdout: "0100000300002000000020000000000000000000feffffff\n"},

		{args: []string{"decode", "0100000200040000000000000000000000000000"}, stdout: "cap_net_bind_service=ep\n"},
		{args: []string{"decode", "0x0100000200040000000000000000000000000000"}, stdout: "cap_net_bind_service=ep\n"},
		{args: []string{"decode", "0X01000002FFFFFFFF00000000FF01000000000000"}, stdout: "=ep\n"},
		{args: []string{"decode", "security.capability=0x0000000221000000000000000000000000000000"}, stdout: "cap_chown,cap_kill=p\n"},
		{args: []string{"decode", "security.capability=0sAQAAAgAEAAAAAAAAAAAAAAAAAAA="}, stdout: "cap_net_bind_service=ep\n"},
		{args: []string{"decode", " 0100000200000000000000000000000000000000\n"}, stdout: "=\n"},
		{args: []string{"decode", "0100000301000000000000000000000000000000e8030000"}, stdout: "cap_chown=ep [rootid=1000]\n"},
		{args: []string{"decode", "0000000200000000000000000000008000000000"}, stdout: "= 63+p\n"},

		// bad input: exit 2, message on stderr, nothing on stdout
		{args: []string{"encode", "cap_net_bind_servce=ep"}, code: 2, stderr: `capslayer encode: invalid capability text "cap_net_bind_servce=ep": unknown capability "cap_net_bind_servce" (at offset 0); did you mean "cap_net_bind_service"?`},
		{args: []string{"encode", "cap_chown=E"}, code: 2, stderr: "flags are lowercase"},
		{args: []string{"encode", ""}, code: 2, stderr: "grants no capabilities"},
		{args: []string{"encode", "cap_chown=e"}, code: 2, stderr: `effective flag alone means nothing; add p (permitted), e.g. "cap_chown=ep"`},
		{args: []string{"encode", "cap_chown=ep cap_kill=p"}, code: 2, stderr: "ONE effective bit"},
		{args: []string{"decode", "zz"}, code: 2, stderr: `value "zz" is not hexadecimal`},
		{args: []string{"decode", "000000"}, code: 2, stderr: "too short"},
		{args: []string{"decode", "0x0000000400000000000000000000000000000000"}, code: 2, stderr: "unknown revision byte 0x04"},
		{args: []string{"decode", "0x02000002" + strings.Repeat("00", 16)}, code: 2, stderr: "reserved flag bits"},
		{args: []string{"decode", "0x00000002" + strings.Repeat("00", 12)}, code: 2, stderr: "must be 20 bytes, got 16"},
		{args: []string{"decode", "security.selinux=0x00"}, code: 2, stderr: `"security.selinux", not security.capability`},
		{args: []string{"decode", "0s!!"}, code: 2, stderr: "not valid base64"},

		// bad usage
		{args: []string{"encode"}, code: 2, stderr: "capslayer encode: missing TEXT"},
		{args: []string{"encode", "cap_chown=p", "cap_kill=p"}, code: 2, stderr: "one TEXT argument, got 2"},
		{args: []string{"encode", "--rootid", "0", "cap_chown=p"}, code: 2, stderr: `--rootid "0": want a host uid from 1 to 4294967294`},
		{args: []string{"encode", "--rootid", "4294967295", "cap_chown=p"}, code: 2, stderr: "want a host uid"},
		{args: []string{"encode", "--rootid", "-5", "cap_chown=p"}, code: 2, stderr: "want a host uid"},
		{args: []string{"encode", "--rootid", "x", "cap_chown=p"}, code: 2, stderr: "want a host uid"},
		{args: []string{"encode", "--frob", "cap_chown=p"}, code: 2, stderr: "unknown flag \"--frob\"; put -- before an argument that starts with '-' (see 'capslayer encode --help')"},
		{args: []string{"encode", "- NET_RAW"}, code: 2, stderr: "unknown flag \"- NET_RAW\"; put -- before"},
		{args: []string{"decode"}, code: 2, stderr: "capslayer decode: missing VALUE"},
		{args: []string{"decode", "00", "00"}, code: 2, stderr: "one VALUE argument, got 2"},

		// help goes to stderr with status 0
		{args: []string{"encode", "--help"}, stderr: "Usage: capslayer encode [--rootid N] [--] TEXT"},
		{args: []string{"encode", "-h"}, stderr: "--rootid N writes revision 3"},
		{args: []string{"decode", "--help"}, stderr: "Usage: capslayer decode VALUE"},
	} {
		code, stdout, stderr := runEncodeCLI(tc.args...)
		if code != tc.code || stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("capslayer %q: exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr containing %q",
				tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
		if tc.code == 0 && tc.stdout != "" && stderr != "" {
			t.Errorf("capslayer %q printed on stderr: %q", tc.args, stderr)
		}
	}
}

// TestEncodeDecodeRoundTrip checks that decode prints, for what encode
// printed, the canonical text of the input.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	for text, canonical := range map[string]string{
		"cap_net_bind_service+ep":               "cap_net_bind_service=ep",
		"CAP_SYS_RESOURCE=+ep":                  "cap_sys_resource=ep",
		"bpf,perfmon,net_admin":                 "cap_net_admin,cap_perfmon,cap_bpf=p",
		"cap_chown=p cap_kill=i":                "cap_kill=i cap_chown+p",
		"all=ep cap_chown-ep":                   "=ep cap_chown-ep",
		"cap_setuid,cap_setgid=eip cap_kill=ep": "cap_setgid,cap_setuid=eip cap_kill+ep",
	} {
		code, hexValue, stderr := runEncodeCLI("encode", text)
		if code != 0 {
			t.Errorf("encode %q: exit %d: %s", text, code, stderr)
			continue
		}
		code, got, stderr := runEncodeCLI("decode", strings.TrimSpace(hexValue))
		if code != 0 || got != canonical+"\n" {
			t.Errorf("decode %s (encode %q) = %d, %q, %q; want %q", hexValue, text, code, got, stderr, canonical)
		}
	}
}

// TestEncodeAgainstSetcap compares encode with what the real setcap
// writes, and decode with what getcap prints, feeding decode the line
// getfattr prints.
func TestEncodeAgainstSetcap(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "setcap needs root (CAP_SETFCAP)")
	}
	for _, tool := range []string{"setcap", "getcap", "getfattr"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "%s not installed (Debian: apt-get install libcap2-bin attr)", tool)
		}
	}
	dir := t.TempDir()
	for i, tc := range []struct{ rootid, text string }{
		{"", "cap_net_bind_service=ep"},
		{"", "cap_chown,cap_kill=p"},
		{"", "cap_chown=p cap_kill=i"},
		{"", "all=ep cap_sys_admin-ep"},
		{"", "cap_net_raw,41,63+eip"},
		{"1000", "cap_chown=ep"},
		{"100000", "cap_net_bind_service=p"},
	} {
		file := filepath.Join(dir, "f"+string(rune('a'+i)))
		if err := os.WriteFile(file, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		setcap := []string{tc.text, file}
		encode := []string{"encode", tc.text}
		if tc.rootid != "" {
			setcap = append([]string{"-n", tc.rootid}, setcap...)
			encode = []string{"encode", "--rootid", tc.rootid, tc.text}
		}
		if out, err := exec.Command("setcap", setcap...).CombinedOutput(); err != nil {
			testenv.SkipOrFail(t, "setcap %q on %s failed (file system without security xattrs?): %v: %s", setcap, dir, err, out)
		}
		out, err := exec.Command("getfattr", "--absolute-names", "-n", "security.capability", "-e", "hex", file).Output()
		if err != nil {
			t.Fatalf("getfattr: %v", err)
		}
		var line string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "security.capability=") {
				line = l
			}
		}
		_, hexValue, _ := runEncodeCLI(encode...)
		if want := strings.TrimPrefix(line, "security.capability=0x") + "\n"; hexValue != want {
			t.Errorf("capslayer %q = %q; setcap wrote %q", encode, hexValue, want)
		}
		getcap, err := exec.Command("getcap", "-n", file).Output()
		if err != nil {
			t.Fatalf("getcap: %v", err)
		}
		want := strings.TrimPrefix(string(getcap), file+" ")
		if code, got, stderr := runEncodeCLI("decode", line); code != 0 || got != want {
			t.Errorf("capslayer decode %q = %d, %q, %q; getcap -n prints %q", line, code, got, stderr, want)
		}
	}
}
