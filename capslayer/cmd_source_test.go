package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
)

// pushImage writes img to ref in the registry whose CA is in ca, as a
// registry a user audits would hold it.
func pushImage(t *testing.T, ref, ca string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	if err := remote.Write(r, img, remote.WithTransport(tr)); err != nil {
		t.Fatal(err)
	}
}

// labelled returns img with its io.capslayer.capabilities label set to v.
func labelled(t *testing.T, img v1.Image, v string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	cf.Config.Labels[imagemeta.LabelCapabilities] = v
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// auditJSON is the part of audit's JSON the read-path tests look at.
type auditJSON struct {
	Verified *bool `json:"verified"`
	Passed   bool  `json:"passed"`
	Files    []struct {
		Path, Source, LayerDigest string
	} `json:"files"`
	Findings []struct {
		Rule, Source, Path string
	} `json:"findings"`
}

type sarifJSON struct {
	Runs []struct {
		Results []struct {
			RuleID     string `json:"ruleId"`
			Properties struct {
				Path, Source string
			} `json:"properties"`
		} `json:"results"`
	} `json:"runs"`
}

// TestRegistryLabelIsNotTheVerdict: a registry image whose label says it
// has no capabilities ("{}") while a layer gives /app/tool cap_sys_admin=ep
// fails audit by default (its layers are read and the label caught), and
// the same layers without a label fail on the capability, with JSON and
// SARIF naming the layer as the source. --label-only never passes and says
// so everywhere.
func TestRegistryLabelIsNotTheVerdict(t *testing.T) {
	host, ca := memRegistry(t)
	dir := t.TempDir()
	layer := filepath.Join(dir, "tool.tar")
	if code, _, stderr := runCLI(t, "layer", "--binary", "/bin/true", "--path", "/app/tool", "--caps", "cap_sys_admin=ep", "--output", layer); code != 0 {
		t.Fatal(stderr)
	}
	plain := polImage(t, "1000", []string{"/app/tool"}, "amd64", layer)
	forgedRef, plainRef := host+"/forged:1", host+"/plain:1"
	pushImage(t, forgedRef, ca, labelled(t, plain, "{}"))
	pushImage(t, plainRef, ca, plain)

	// Default: the layers are read; the forged label is an error.
	code, stdout, stderr := runCLI(t, "audit", "--profile", "pss-restricted", "--json", "--ca-file", ca, forgedRef)
	const mismatch = "the config label io.capslayer.capabilities does not list /app/tool, the layers give it cap_sys_admin=ep"
	if code == 0 || !strings.Contains(stderr, mismatch) || strings.Contains(stdout, `"passed": true`) {
		t.Errorf("forged label, default: exit %d, stdout %s, stderr %q; want a failure naming %q", code, stdout, stderr, mismatch)
	}
	// --layers is the default, kept as a no-op.
	if code2, _, stderr2 := runCLI(t, "audit", "--profile", "pss-restricted", "--layers", "--ca-file", ca, forgedRef); code2 != code || stderr2 != stderr {
		t.Errorf("--layers: exit %d, stderr %q; want what the default gives", code2, stderr2)
	}

	// No label: the capability read from the layer fails the policy, and
	// JSON and SARIF say it came from the layer.
	sarif := filepath.Join(dir, "plain.sarif")
	code, stdout, stderr = runCLI(t, "audit", "--profile", "pss-restricted", "--json", "--sarif", sarif, "--ca-file", ca, plainRef)
	var res auditJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("exit %d: %v: %s %s", code, err, stdout, stderr)
	}
	if code != 1 || res.Passed || res.Verified == nil || !*res.Verified || len(res.Files) != 1 || res.Files[0].Source != "layer" || len(res.Findings) == 0 {
		t.Errorf("plain image: exit %d, %+v", code, res)
	}
	for _, f := range res.Findings {
		if f.Source != "layer" {
			t.Errorf("finding %+v: source %q, want layer", f, f.Source)
		}
	}
	s := readSARIF(t, sarif)
	if len(s.Runs[0].Results) == 0 {
		t.Fatal("no SARIF result for cap_sys_admin")
	}
	for _, r := range s.Runs[0].Results {
		if r.Properties.Source != "layer" || r.Properties.Path != "/app/tool" {
			t.Errorf("SARIF result %+v: want source layer for /app/tool", r)
		}
	}

	// --label-only: the label's (empty) claim is not a verdict.
	code, stdout, stderr = runCLI(t, "audit", "--profile", "pss-restricted", "--label-only", "--json", "--sarif", sarif, "--ca-file", ca, forgedRef)
	res = auditJSON{}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("exit %d: %v: %s %s", code, err, stdout, stderr)
	}
	if code != 1 || res.Passed || res.Verified == nil || *res.Verified || len(res.Findings) != 1 ||
		res.Findings[0].Rule != "unverified-capabilities" || res.Findings[0].Source != "label-unverified" {
		t.Errorf("--label-only: exit %d, %+v", code, res)
	}
	if !strings.Contains(stderr, "layers not read: UNVERIFIED") || !strings.Contains(stderr, "UNVERIFIED: the capabilities were taken from the image's label, its layers not read, so there is no verdict (drop --label-only)") {
		t.Errorf("--label-only: stderr %q", stderr)
	}
	s = readSARIF(t, sarif)
	if r := s.Runs[0].Results; len(r) != 1 || r[0].RuleID != "unverified-capabilities" || r[0].Properties.Source != "label-unverified" {
		t.Errorf("--label-only SARIF results %+v", r)
	}
	code, stdout, _ = runCLI(t, "audit", "--profile", "pss-restricted", "--label-only", "--ca-file", ca, forgedRef)
	if code != 1 || !strings.Contains(stdout, "\nUNVERIFIED: ") || strings.Contains(stdout, "PASS") {
		t.Errorf("--label-only text: exit %d:\n%s", code, stdout)
	}
	// An honest label read alone: listed, marked, still no PASS.
	honestRef := host + "/honest:1"
	pushImage(t, honestRef, ca, labelled(t, plain, `{"/app/tool":"cap_sys_admin=ep"}`))
	code, stdout, _ = runCLI(t, "audit", "--allow", "SYS_ADMIN", "--justify", "SYS_ADMIN=test", "--label-only", "--json", "--ca-file", ca, honestRef)
	res = auditJSON{}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if code != 1 || res.Passed || len(res.Files) != 1 || res.Files[0].Source != "label-unverified" {
		t.Errorf("--label-only, honest label: exit %d, %+v", code, res)
	}
	if code, _, _ := runCLI(t, "audit", "--allow", "SYS_ADMIN", "--justify", "SYS_ADMIN=test", "--ca-file", ca, honestRef); code != 0 {
		t.Errorf("honest label, layers read: exit %d, want a PASS", code)
	}

	// requirements and inspect may read the label alone, and say so.
	code, stdout, stderr = runCLI(t, "requirements", "--label-only", "--json", "--ca-file", ca, honestRef)
	if code != 0 || !strings.Contains(stdout, "unverified: the capabilities come from the image's io.capslayer.capabilities label") || !strings.Contains(stderr, "UNVERIFIED") {
		t.Errorf("requirements --label-only: exit %d, stdout %s, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "inspect", "--label-only", "--json", "--ca-file", ca, honestRef)
	if code != 0 || strings.Count(stdout, `"source": "label-unverified"`) != 2 {
		t.Errorf("inspect --label-only --json: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "inspect", "--label-only", "--layers", "--ca-file", ca, honestRef); code != 2 || !strings.Contains(stderr, "--label-only and --layers contradict") {
		t.Errorf("--label-only --layers: exit %d, stderr %q", code, stderr)
	}
}

func readSARIF(t *testing.T, p string) sarifJSON {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s sarifJSON
	if err := json.Unmarshal(b, &s); err != nil || len(s.Runs) != 1 {
		t.Fatalf("%v: %s", err, b)
	}
	return s
}

// TestPathIsNeverAReference: an argument written as a path is read from
// disk, even when it does not exist and looks like HOST/REPO: the error is
// "no such file" and nothing reaches the network. Every HTTP(S) request
// of the child process would go through the proxy the test starts; none
// may arrive.
func TestPathIsNeverAReference(t *testing.T) {
	var hits atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusBadGateway)
	}))
	defer proxy.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a registry that is never asked
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	regHost := ln.Addr().String()
	dir := t.TempDir()
	for _, arg := range []string{
		"./missing/path",
		"../missing/image:1",
		"./" + regHost + "/app:1",
		"../" + regHost + "/app:1",
		filepath.Join(dir, regHost, "app:1"),
		"./example.com/app:1",
	} {
		for _, cmd := range [][]string{{"inspect"}, {"audit", "--profile", "pss-restricted"}, {"requirements"}, {"admission-policy"}} {
			args := append(append([]string{}, cmd...), arg)
			c := exec.Command(os.Args[0], append([]string{"-test.run=^TestLayerHelperProcess$", "--"}, args...)...)
			c.Dir = dir
			c.Env = append(os.Environ(), "CAPSLAYER_TEST_HELPER=1",
				"HTTPS_PROXY="+proxy.URL, "HTTP_PROXY="+proxy.URL, "https_proxy="+proxy.URL, "http_proxy="+proxy.URL,
				"NO_PROXY=", "no_proxy=", "DOCKER_CONFIG="+dir)
			out, err := c.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != 2 || !strings.Contains(string(out), "no such file or directory") || strings.Contains(string(out), "registry") {
				t.Errorf("%v: exit %d, output %q; want exit 2 and a no-such-file error", args, code, out)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the network for arguments written as paths", n)
	}
}
