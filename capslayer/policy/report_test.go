package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got %q\nwant %q\n(run go test -update if the change is intended)", p, i+1, g, w)
			}
		}
	}
}

// exampleReport is an image of three layers with one file for every rule.
func exampleReport(t *testing.T) *inspect.Report {
	ping := capFile(t, "/usr/bin/ping", "cap_net_raw=ep")
	ping.ShadowedBy = 2
	arping := capFile(t, "/usr/bin/arping", "cap_net_raw=ep")
	server := capFile(t, "/app/server", "cap_net_bind_service=ep")
	tool := capFile(t, "/app/tool", "cap_chown,cap_dac_override,cap_kill,cap_setuid,cap_sys_admin=ep")
	bad := tarfs.File{Path: "/app/bad", Raw: []byte{0x00, 0x00, 0x00, 0x02}, Invalid: "4 bytes: a security.capability value is 12, 20 or 24 bytes", ShadowedBy: -1}
	ns := capFile(t, "/app/ns", "cap_net_bind_service=ep")
	ns.Xattr.Revision, ns.Xattr.RootID = 3, 100000
	ns.Raw = append(append([]byte{0x01, 0x00, 0x00, 0x03}, ns.Raw[4:]...), 0xa0, 0x86, 0x01, 0x00)
	for _, f := range []*tarfs.File{&server, &tool, &bad} {
		f.Layer = 1
	}
	ns.Layer = 2
	return &inspect.Report{Origin: inspect.Origin{Source: "testdata/example-layout", Kind: inspect.KindOCILayout}, Images: []inspect.Image{{
		Name: "example.com/app:1.0", Digest: "sha256:" + strings.Repeat("d", 64), Platform: "linux/amd64",
		Layers: []tarfs.Layer{
			{Index: 0, Digest: "sha256:" + strings.Repeat("a", 64), Files: []tarfs.File{ping, arping}},
			{Index: 1, Digest: "sha256:" + strings.Repeat("b", 64), Files: []tarfs.File{server, tool, bad}},
			{Index: 2, Digest: "sha256:" + strings.Repeat("c", 64), Files: []tarfs.File{ns}},
		},
	}}}
}

func examplePolicy(t *testing.T) Policy {
	p := Default(ProfileBaseline)
	p.Allow = mustMask("NET_RAW")
	for _, s := range []string{
		"/usr/bin/arping:NET_RAW=arping sends ARP requests through a packet socket",
		"SETUID=the tool drops from root to the service user",
		"/app/old:SYS_PTRACE=debugger, removed since",
	} {
		j, err := ParseJustification(s)
		if err != nil {
			t.Fatal(err)
		}
		p.Justifications = append(p.Justifications, j)
	}
	return p
}

func TestAuditGolden(t *testing.T) {
	p := examplePolicy(t)
	res := Audit(exampleReport(t), p)
	if res.Passed {
		t.Fatal("the example passed; it should fail")
	}
	// The reports show each finding's Fix in the caller's words.
	res.Word(func(f Finding) string {
		return fmt.Sprintf("test words for %s %s (profile %q, pattern %q)", f.Rule, strings.Join(f.Caps.DockerNames(), ","), f.Remedy.Profile, f.Remedy.Pattern)
	})
	var text, js, sarif bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteSARIF(&sarif, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.txt", text.Bytes())
	golden(t, "audit.json", js.Bytes())
	golden(t, "audit.sarif", sarif.Bytes())

	// The JSON decodes back into a Result equal to the one written.
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.MarshalIndent(&back, "", "  ")
	if !bytes.Equal(append(again, '\n'), js.Bytes()) {
		t.Error("JSON does not round-trip")
	}
}

func TestAuditTextEmpty(t *testing.T) {
	var b bytes.Buffer
	p := Default(ProfileRestricted)
	res := Audit(layerReport(), p)
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "audit of layer.tar (layer)\npolicy: profile pss-restricted (allowed: NET_BIND_SERVICE); more than 3 capabilities per file need a justification\n\nno file has capabilities\n\nPASS: 0 errors, 0 warnings, 0 notes; 0 files with capabilities (0 shadowed)\n"
	if b.String() != want {
		t.Errorf("WriteText =\n%s\nwant\n%s", b.String(), want)
	}
}

// TestSARIFShape checks the parts of SARIF 2.1.0 that code-scanning UIs
// (GitHub, VS Code's SARIF viewer) rely on.
func TestSARIFShape(t *testing.T) {
	res := Audit(exampleReport(t), examplePolicy(t))
	var b bytes.Buffer
	if err := res.WriteSARIF(&b, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log["version"] != "2.1.0" || !strings.HasSuffix(log["$schema"].(string), "sarif-schema-2.1.0.json") {
		t.Errorf("version/$schema = %v %v", log["version"], log["$schema"])
	}
	runs := log["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	run := runs[0].(map[string]any)
	driver := run["tool"].(map[string]any)["driver"].(map[string]any)
	if driver["name"] != "capslayer" || driver["version"] != "1.2.3" || driver["informationUri"] == "" {
		t.Errorf("driver = %v", driver)
	}
	ruleIDs := map[string]int{}
	for i, r := range driver["rules"].([]any) {
		rule := r.(map[string]any)
		id := rule["id"].(string)
		if _, dup := ruleIDs[id]; dup {
			t.Errorf("rule %s twice", id)
		}
		ruleIDs[id] = i
		for _, k := range []string{"shortDescription", "fullDescription", "help"} {
			if rule[k].(map[string]any)["text"] == "" {
				t.Errorf("rule %s has no %s text", id, k)
			}
		}
		level := rule["defaultConfiguration"].(map[string]any)["level"]
		if level != "error" && level != "warning" && level != "note" {
			t.Errorf("rule %s level %v", id, level)
		}
	}
	if len(ruleIDs) != len(Rules()) {
		t.Errorf("%d rules in SARIF, %d in Rules()", len(ruleIDs), len(Rules()))
	}
	results := run["results"].([]any)
	if len(results) != len(res.Findings) {
		t.Fatalf("%d results for %d findings", len(results), len(res.Findings))
	}
	levels := map[string]int{}
	for i, r := range results {
		result := r.(map[string]any)
		id := result["ruleId"].(string)
		idx, ok := ruleIDs[id]
		if !ok || int(result["ruleIndex"].(float64)) != idx {
			t.Errorf("result %d: ruleId %s ruleIndex %v", i, id, result["ruleIndex"])
		}
		levels[result["level"].(string)]++
		msg := result["message"].(map[string]any)["text"].(string)
		if !strings.Contains(msg, res.Findings[i].Path) {
			t.Errorf("result %d message %q does not name the file", i, msg)
		}
		locs := result["locations"].([]any)
		if len(locs) != 1 {
			t.Fatalf("result %d has %d locations", i, len(locs))
		}
		loc := locs[0].(map[string]any)
		phys := loc["physicalLocation"].(map[string]any)
		if line := phys["region"].(map[string]any)["startLine"]; line != 1.0 {
			t.Errorf("result %d region startLine = %v", i, line)
		}
		art := phys["artifactLocation"].(map[string]any)
		if art["uri"] != "testdata/example-layout" || art["uriBaseId"] != "%SRCROOT%" {
			t.Errorf("result %d artifactLocation = %v", i, art)
		}
		logical := loc["logicalLocations"].([]any)[0].(map[string]any)
		if logical["fullyQualifiedName"] != "example.com/app:1.0:"+res.Findings[i].Path {
			t.Errorf("result %d logical location = %v", i, logical)
		}
		if fp := result["partialFingerprints"].(map[string]any)["capslayerFinding/v1"]; len(fp.(string)) != 32 {
			t.Errorf("result %d fingerprint %v", i, fp)
		}
	}
	if levels["error"] == 0 || levels["warning"] == 0 || levels["note"] == 0 {
		t.Errorf("levels = %v, want every level in the example", levels)
	}
}

func TestSARIFArtifact(t *testing.T) {
	tests := []struct{ in, uri, base string }{
		{"bazel-bin/app/layer.tar", "bazel-bin/app/layer.tar", "%SRCROOT%"},
		{"./img dir/x.tar", "img%20dir/x.tar", "%SRCROOT%"},
		{"/tmp/img.tar", "file:///tmp/img.tar", ""},
	}
	for _, tc := range tests {
		a := sarifArtifactFor(tc.in)
		if a.URI != tc.uri || a.URIBaseID != tc.base {
			t.Errorf("sarifArtifactFor(%q) = %+v, want %s %s", tc.in, a, tc.uri, tc.base)
		}
	}
}

// TestEverySARIFRuleHasASeverity: code scanning ranks alerts by
// security-severity; a rule without one is ranked as nothing.
func TestEverySARIFRuleHasASeverity(t *testing.T) {
	for _, r := range Rules() {
		if securitySeverity[r.ID] == "" {
			t.Errorf("rule %s has no security-severity", r.ID)
		}
	}
}
