package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/tartest"
	"github.com/capslayer/rules_capslayer/internal/testenv"
)

func inspectFixture(t *testing.T) string {
	t.Helper()
	netRawP := []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	return tartest.WriteFile(t, "layer.tar", tartest.Tar(t,
		tartest.Dir("app/"),
		tartest.File("app/server", "server", tartest.NetBindEP),
		tartest.File("app/plain", "plain", nil),
		tartest.File("usr/bin/ping", "ping", netRawP),
		tartest.File("app/bad", "bad", []byte{1, 2, 3}),
	))
}

func TestInspectTable(t *testing.T) {
	p := inspectFixture(t)
	code, stdout, stderr := runCLI(t, "inspect", p)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := `LAYER  PATH           CAPS                     HEX                                       MODE  OWNER  STATUS
0      /app/server    cap_net_bind_service=ep  0100000200040000000000000000000000000000  0755  0:0    visible
0      /usr/bin/ping  cap_net_raw=p            0000000200200000000000000000000000000000  0755  0:0    visible
0      /app/bad       (invalid)                010203                                    0755  0:0    visible; invalid: caps: security.capability value is 3 bytes, too short for a vfs_cap_data header (4 bytes); valid values are 12, 20 or 24 bytes
`
	if stdout != want {
		t.Errorf("got\n%s\nwant\n%s", stdout, want)
	}
}

func TestInspectJSON(t *testing.T) {
	p := inspectFixture(t)
	code, stdout, stderr := runCLI(t, "inspect", "--json", p)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var rep struct {
		Source, Kind string
		Skipped      []string
		Images       []struct {
			Name, Digest, Platform string
			Layers                 []struct {
				Index                     int
				Digest, DiffID, MediaType string
				Files                     []map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	l := rep.Images[0].Layers[0]
	if rep.Kind != "layer" || rep.Source != p || rep.Skipped == nil || l.Digest != tartest.Digest(raw) || len(l.Files) != 3 {
		t.Fatalf("report %s", stdout)
	}
	f, _ := json.Marshal(l.Files[0])
	want := `{"caps":"cap_net_bind_service=ep","effective":true,"gid":0,"hex":"0100000200040000000000000000000000000000","inheritable":[],"layer":0,"mode":"0755","path":"/app/server","permitted":["cap_net_bind_service"],"revision":2,"shadowed_by":-1,"size":6,"source":"layer","type":"file","uid":0,"visible":true}`
	if string(f) != want {
		t.Errorf("file\n got %s\nwant %s", f, want)
	}
	if inv := l.Files[2]["invalid"]; inv == nil || !strings.Contains(inv.(string), "3 bytes") || l.Files[2]["caps"] != "" {
		t.Errorf("invalid file %v", l.Files[2])
	}
}

func TestInspectErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect"}, "inspect takes one PATH"},
		{[]string{"inspect", "a", "b"}, "got 2 arguments"},
		{[]string{"inspect", filepath.Join(t.TempDir(), "missing.tar")}, "no such file"},
		{[]string{"inspect", tartest.WriteFile(t, "x.tar", []byte("hello"))}, "not a tar archive"},
		{[]string{"inspect", tartest.WriteFile(t, "evil.tar", tartest.Tar(t, tartest.File("../../etc/cron.d/x", "x", tartest.NetBindEP)))}, "escapes the image root"},
		{[]string{"inspect", t.TempDir()}, "not an OCI image layout"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d stdout %q stderr %q, want 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// TestInspectSetcapTar inspects what the real setcap and GNU tar produce.
func TestInspectSetcapTar(t *testing.T) {
	for _, tool := range []string{"setcap", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "setcap needs root")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "root", "bin"), 0o755)
	bin := filepath.Join(dir, "root", "bin", "ping")
	os.WriteFile(bin, []byte("ping"), 0o755)
	if out, err := exec.Command("setcap", "cap_net_raw+p", bin).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "setcap: %v %s", err, out)
	}
	out := filepath.Join(dir, "l.tar")
	if b, err := exec.Command("tar", "--xattrs", "--xattrs-include=security.capability", "-C", filepath.Join(dir, "root"), "-cf", out, "bin").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	code, stdout, stderr := runCLI(t, "inspect", out)
	if code != 0 || !strings.Contains(stdout, "/bin/ping  cap_net_raw=p  0000000200200000000000000000000000000000  0755") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}
