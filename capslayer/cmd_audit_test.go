package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

// polEntry is one entry of a test layer: a regular file, with capabilities
// when caps is set (setcap text) or raw when given, or a whiteout when
// whiteout is true.
type polEntry struct {
	path     string
	caps     string
	raw      []byte
	whiteout bool
}

// polWriteLayer writes a layer tar the way image builders do: PAX record
// SCHILY.xattr.security.capability with the raw vfs_cap_data value.
func polWriteLayer(t *testing.T, path string, entries ...polEntry) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := &tar.Header{Name: strings.TrimPrefix(e.path, "/"), Mode: 0o755, Typeflag: tar.TypeReg, Size: 4}
		body := []byte("\x7fELF")
		if e.whiteout {
			hdr.Name = filepath.Join(filepath.Dir(hdr.Name), ".wh."+filepath.Base(hdr.Name))
			hdr.Size, body = 0, nil
		}
		raw := e.raw
		if e.caps != "" {
			fc, err := caps.Parse(e.caps)
			if err != nil {
				t.Fatal(err)
			}
			raw = fc.EncodeV2()
		}
		if raw != nil {
			hdr.PAXRecords = map[string]string{caps.PAXRecordKey: string(raw)}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// polImage builds an image from layer tars with go-containerregistry, with
// the given config user and entrypoint.
func polImage(t *testing.T, user string, entrypoint []string, arch string, layers ...string) v1.Image {
	t.Helper()
	var ls []v1.Layer
	for _, p := range layers {
		l, err := tarball.LayerFromFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.User = user
	cf.Config.Entrypoint = entrypoint
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// polLayout writes images to an OCI layout, each tagged ref.
func polLayout(t *testing.T, dir, ref string, imgs ...v1.Image) string {
	t.Helper()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		cf, _ := img.ConfigFile()
		if err := lp.AppendImage(img,
			layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}),
			layout.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture})); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// polDockerArchive writes img as a docker save tarball tagged ref.
func polDockerArchive(t *testing.T, path, ref string, img v1.Image) string {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	return path
}

func polRun(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestAuditCLI(t *testing.T) {
	dir := t.TempDir()
	server := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	ping := polWriteLayer(t, filepath.Join(dir, "ping.tar"), polEntry{path: "/usr/bin/ping", caps: "cap_net_raw=ep"}, polEntry{path: "/usr/bin/plain"})
	policyFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyFile, []byte(`{"profile": "docker-default", "justifications": [{"path": "/usr/bin/ping", "capability": "NET_RAW", "reason": "ICMP echo"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings
		stderr []string
	}{
		{"restricted passes", []string{"audit", "--profile", "pss-restricted", server}, 0,
			[]string{"/app/server", "cap_net_bind_service=ep", "ok", "PASS: 0 errors"}, nil},
		{"flags after the image", []string{"audit", server, "--profile", "pss-restricted"}, 0, []string{"PASS"}, nil},
		{"restricted fails on NET_RAW", []string{"audit", "--profile", "pss-restricted", ping}, 1,
			[]string{"/usr/bin/ping", "FAIL", "capability-not-allowed", "dangerous-capability", "CAP_NET_RAW"},
			[]string{"capslayer audit: " + ping + ": 2 policy violations (/usr/bin/ping NET_RAW [capability-not-allowed]; /usr/bin/ping NET_RAW [dangerous-capability])"}},
		{"docker-default still wants a justification", []string{"audit", "--profile", "docker-default", ping}, 1,
			[]string{"dangerous-capability"}, []string{"1 policy violation ("}},
		{"justified", []string{"audit", "--profile", "docker-default", "--justify", "/usr/bin/ping:NET_RAW=sends ICMP echo requests", ping}, 0,
			[]string{"ok (justified: NET_RAW)", "PASS"}, nil},
		{"custom allowlist", []string{"audit", "--profile", "none", "--allow", "NET_RAW", "--justify", "NET_RAW=ICMP", ping}, 0, []string{"PASS"}, nil},
		{"allow alone is a custom list", []string{"audit", "--allow", "NET_BIND_SERVICE", server}, 0, []string{"profile none + allow NET_BIND_SERVICE"}, nil},
		{"max caps 0", []string{"audit", "--profile", "pss-restricted", "--max-caps", "0", server}, 1, []string{"too-many-capabilities"}, nil},
		// Fixes in the CLI's flags, or in caps_policy_test's attributes
		// under --hint-style bazel (the rule passes it).
		{"fixes in flags", []string{"audit", "--profile", "pss-restricted", "--max-caps", "0", ping}, 1,
			[]string{"or allow it with --allow NET_RAW (or use --profile docker-default)", "justify it: --justify '/usr/bin/ping:NET_RAW=why the program needs it'",
				"with --justify '/usr/bin/ping:CAP=REASON', or raise --max-caps"}, nil},
		{"fixes in attributes", []string{"audit", "--profile", "pss-restricted", "--max-caps", "0", "--hint-style", "bazel", ping}, 1,
			[]string{`or allow it with allow = ["NET_RAW"] (or use profile = "docker-default")`, `justify it: justifications = {"/usr/bin/ping:NET_RAW": "why the program needs it"}`,
				`with justifications = {"/usr/bin/ping:CAP": "REASON"}, or raise 'max_caps'`}, nil},
		{"bad hint style", []string{"audit", "--profile", "none", "--hint-style", "make", server}, 2, nil, []string{`--hint-style "make": want one of cli, bazel`}},
		{"policy file", []string{"audit", "--policy", policyFile, ping}, 0, []string{"profile docker-default", "PASS"}, nil},
		{"flags override the policy file", []string{"audit", "--policy", policyFile, "--profile", "pss-restricted", ping}, 1, []string{"capability-not-allowed"}, nil},

		{"no policy", []string{"audit", server}, 2, nil, []string{"choose a policy: --profile pss-restricted|pss-baseline|docker-default|none"}},
		{"bad profile", []string{"audit", "--profile", "restricted", server}, 2, nil, []string{`--profile: policy: unknown profile "restricted": did you mean "pss-restricted"?`}},
		{"unknown profile", []string{"audit", "--profile", "strict", server}, 2, nil, []string{`policy: unknown profile "strict" (profiles: `, "use --profile none with --allow CAP,..."}},
		{"no image", []string{"audit", "--profile", "none"}, 2, nil, []string{"audit takes one IMAGE"}},
		{"two images", []string{"audit", "--profile", "none", server, ping}, 2, nil, []string{"got 2 arguments"}},
		{"bad allow", []string{"audit", "--allow", "NET_RAWW", server}, 2, nil, []string{"did you mean NET_RAW?"}},
		{"bad justify", []string{"audit", "--profile", "none", "--justify", "NET_RAW", server}, 2, nil, []string{"has no '='"}},
		{"bad max caps", []string{"audit", "--profile", "none", "--max-caps", "-5", server}, 2, nil, []string{"max caps -5"}},
		{"bad policy file", []string{"audit", "--policy", filepath.Join(dir, "missing.json"), server}, 2, nil, []string{"missing.json"}},
		{"missing image", []string{"audit", "--profile", "none", filepath.Join(dir, "nope.tar")}, 2, nil, []string{"nope.tar"}},
		{"help", []string{"audit", "--help"}, 0, nil, []string{"Usage: capslayer audit", "-justify"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := polRun(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestAuditCLIHostileInput(t *testing.T) {
	dir := t.TempDir()
	full := polWriteLayer(t, filepath.Join(dir, "full.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	data, _ := os.ReadFile(full)
	inputs := map[string][]byte{
		"truncated.tar": data[:700],
		"garbage.tar":   bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1000),
		"gzip-junk.gz":  append([]byte{0x1f, 0x8b, 0x08, 0x00}, bytes.Repeat([]byte{0xff}, 100)...),
	}
	for n, b := range inputs {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := polRun("audit", "--profile", "pss-restricted", p)
		if code != 2 || !strings.Contains(stderr, "capslayer audit: ") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and an error", n, code, stderr)
		}
	}
	// A malformed capability value is a finding, not a crash.
	bad := polWriteLayer(t, filepath.Join(dir, "bad.tar"), polEntry{path: "/app/bad", raw: []byte{0, 0, 0, 2}})
	code, stdout, _ := polRun("audit", "--profile", "docker-default", bad)
	if code != 1 || !strings.Contains(stdout, "invalid-capability") {
		t.Errorf("bad value: exit %d\n%s", code, stdout)
	}
}

func TestAuditCLIOutputs(t *testing.T) {
	dir := t.TempDir()
	ping := polWriteLayer(t, filepath.Join(dir, "ping.tar"), polEntry{path: "/usr/bin/ping", caps: "cap_net_raw=ep"})
	sarif := filepath.Join(dir, "out", "audit.sarif")
	if err := os.Mkdir(filepath.Dir(sarif), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := polRun("audit", "--profile", "pss-restricted", "--json", "--sarif", sarif, ping)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var res struct {
		Passed   bool `json:"passed"`
		Findings []struct {
			Rule, Path string
			Caps       []string `json:"capabilities"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if res.Passed || len(res.Findings) != 2 || res.Findings[0].Path != "/usr/bin/ping" || res.Findings[0].Caps[0] != "NET_RAW" {
		t.Errorf("--json = %+v", res)
	}
	b, err := os.ReadFile(sarif)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
					LogicalLocations []struct {
						FullyQualifiedName string `json:"fullyQualifiedName"`
					} `json:"logicalLocations"`
				}
			}
		}
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 {
		t.Fatalf("SARIF = %s", b)
	}
	loc := log.Runs[0].Results[0].Locations[0]
	if loc.PhysicalLocation.ArtifactLocation.URI != "file://"+ping || loc.LogicalLocations[0].FullyQualifiedName != "/usr/bin/ping" {
		t.Errorf("SARIF location = %+v", loc)
	}
	entries, _ := os.ReadDir(filepath.Dir(sarif))
	if len(entries) != 1 {
		t.Errorf("%d files beside the SARIF output, want 1 (temporary files left?)", len(entries))
	}

	// An unwritable --sarif is a usage error found before any work, and
	// nothing is created.
	missing := filepath.Join(dir, "nodir", "x.sarif")
	code, _, stderr := polRun("audit", "--profile", "pss-restricted", "--sarif", missing, ping)
	if code != 2 || !strings.Contains(stderr, "does not exist: create it first") {
		t.Errorf("--sarif in a missing dir: exit %d, %s", code, stderr)
	}
	code, _, stderr = polRun("audit", "--profile", "pss-restricted", "--sarif", dir, ping)
	if code != 2 || !strings.Contains(stderr, "is a directory") {
		t.Errorf("--sarif DIR: exit %d, %s", code, stderr)
	}
	// A bad input image writes no SARIF.
	none := filepath.Join(dir, "out", "none.sarif")
	polRun("audit", "--profile", "pss-restricted", "--sarif", none, filepath.Join(dir, "nope.tar"))
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Errorf("SARIF written for a missing image: %v", err)
	}
}

// TestAuditCLIImages audits an OCI layout and a docker save tarball whose
// base layer has a file with capabilities that the top layer deletes.
func TestAuditCLIImages(t *testing.T) {
	dir := t.TempDir()
	base := polWriteLayer(t, filepath.Join(dir, "base.tar"),
		polEntry{path: "/usr/bin/ping", caps: "cap_net_raw=ep"},
		polEntry{path: "/usr/bin/arping", caps: "cap_net_raw=ep"})
	top := polWriteLayer(t, filepath.Join(dir, "top.tar"),
		polEntry{path: "/usr/bin/ping", whiteout: true},
		polEntry{path: "/usr/bin/arping"}, // overwritten without capabilities
		polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	img := polImage(t, "1000", []string{"/app/server"}, "amd64", base, top)
	inputs := map[string]string{
		"oci-layout":     polLayout(t, filepath.Join(dir, "layout"), "example.com/app:1.0", img),
		"docker-archive": polDockerArchive(t, filepath.Join(dir, "image.tar"), "example.com/app:1.0", img),
	}
	for kind, p := range inputs {
		t.Run(kind, func(t *testing.T) {
			code, stdout, stderr := polRun("audit", "--profile", "pss-restricted", p)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			for _, s := range []string{
				"(" + kind + ")",
				"example.com/app:1.0",
				"0      /usr/bin/arping  cap_net_raw=ep           shadowed by layer 1 (not checked)",
				"0      /usr/bin/ping    cap_net_raw=ep           shadowed by layer 1 (not checked)",
				"1      /app/server      cap_net_bind_service=ep  ok",
				"NOTE [shadowed-capability] /usr/bin/ping (image example.com/app:1.0, layer 0) had capabilities cap_net_raw=ep, but layer 1 replaced or deleted it",
				"(the policy would not allow NET_RAW)",
				"PASS: 0 errors, 0 warnings, 2 notes; 3 files with capabilities (2 shadowed)",
			} {
				if !strings.Contains(stdout, s) {
					t.Errorf("output lacks %q:\n%s", s, stdout)
				}
			}
		})
	}
}
