package main

import (
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
)

// memRegistry starts go-containerregistry's in-memory registry with TLS on
// 127.0.0.1 and returns its host:port and a CA file for it.
func memRegistry(t *testing.T) (string, string) {
	t.Helper()
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the host
	return strings.TrimPrefix(srv.URL, "https://"), ca
}

// TestRegistryCLI pushes the example server's image and reads it back by tag
// and by digest: inspect, audit and requirements say what they say of the
// local layout, whether --layers (the default, kept as a no-op) is given or
// not; with --label-only the label is read alone and said to be.
func TestRegistryCLI(t *testing.T) {
	host, ca := memRegistry(t)
	lay := filepath.Join(t.TempDir(), "server_image")
	digest := imageCLI(t, capsLayerCLI(t), lay, "--tag", "capslayer/server:latest")

	code, stdout, stderr := runCLI(t, "push", lay, "--repository", host+"/caps/server:v1", "--ca-file", ca)
	if code != 0 || stdout != host+"/caps/server:v1@"+digest+"\n" {
		t.Fatalf("push: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}

	run := func(args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return stdout, stderr
	}
	localAudit, _ := run("audit", "--profile", "pss-restricted", "--json", lay)
	localReq, _ := run("requirements", "--only", "kubernetes", lay)
	localCaps, _ := run("requirements", "--only", "capabilities", lay)
	for _, ref := range []string{host + "/caps/server:v1", host + "/caps/server@" + digest} {
		for _, layers := range []bool{false, true} {
			extra := []string{"--ca-file", ca}
			if layers {
				extra = append(extra, "--layers")
			}
			audit, stderr := run(append([]string{"audit", "--profile", "pss-restricted", "--json", ref}, extra...)...)
			if stderr != "" {
				t.Errorf("%s --layers=%v: stderr %q", ref, layers, stderr)
			}
			if got, want := normalizeAudit(audit, ref, lay), normalizeAudit(localAudit, "", ""); got != want {
				t.Errorf("%s --layers=%v: audit\n%s\nlocal layout\n%s", ref, layers, got, want)
			}
			if req, _ := run(append([]string{"requirements", "--only", "kubernetes", ref}, extra...)...); req != localReq {
				t.Errorf("%s: requirements %q, local %q", ref, req, localReq)
			}
			if c, _ := run(append([]string{"requirements", "--only", "capabilities", ref}, extra...)...); c != localCaps || c != "NET_BIND_SERVICE\n" {
				t.Errorf("%s: capabilities %q, local %q", ref, c, localCaps)
			}
			table, _ := run(append([]string{"inspect", ref}, extra...)...)
			if !strings.Contains(table, "/app/server") || !strings.Contains(table, "cap_net_bind_service=ep") {
				t.Errorf("%s: inspect\n%s", ref, table)
			}
		}
	}

	// --label-only: the label alone, said to be; audit has no verdict.
	labelOnly := []string{"--label-only", "--ca-file", ca, host + "/caps/server:v1"}
	if code, stdout, stderr := runCLI(t, append([]string{"audit", "--profile", "pss-restricted"}, labelOnly...)...); code != 1 ||
		!strings.Contains(stdout, "UNVERIFIED") || !strings.Contains(stdout, "[label-unverified]") || !strings.Contains(stderr, "layers not read: UNVERIFIED") {
		t.Errorf("audit --label-only: exit %d, stdout\n%s\nstderr %q", code, stdout, stderr)
	}
	if c, stderr := run(append([]string{"requirements", "--only", "capabilities"}, labelOnly...)...); c != localCaps || !strings.Contains(stderr, "UNVERIFIED") {
		t.Errorf("requirements --label-only: %q, stderr %q", c, stderr)
	}
	if table, _ := run(append([]string{"inspect"}, labelOnly...)...); !strings.Contains(table, "layers not read: label-unverified") || !strings.Contains(table, "cap_net_bind_service=ep") {
		t.Errorf("inspect --label-only:\n%s", table)
	}

	// crane config: the label is in the config, locally and in the registry.
	for _, args := range [][]string{{"inspect", "--config", lay}, {"inspect", "--config", host + "/caps/server:v1", "--ca-file", ca}} {
		cfg, _ := run(args...)
		if !strings.Contains(cfg, `"io.capslayer.capabilities":"{\"/app/server\":\"cap_net_bind_service=ep\"}"`) {
			t.Errorf("%v: the config lacks the label:\n%s", args, cfg)
		}
	}

	// The admission policy from the registry reference pins the same digest.
	pol, _ := run("admission-policy", host+"/caps/server:v1", "--ca-file", ca)
	if !strings.Contains(pol, `"`+digest+`": ["NET_BIND_SERVICE"]`) {
		t.Errorf("admission-policy from the registry:\n%s", pol)
	}
}

// normalizeAudit drops the source names from audit JSON, which differ
// between a layout and a registry reference.
func normalizeAudit(s, ref, lay string) string {
	if ref != "" {
		s = strings.ReplaceAll(s, ref, "SOURCE")
	}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"source"`) || strings.Contains(l, `"image"`) || strings.Contains(l, `"kind"`) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestForgedLabel: a label that does not match the layers is an error that
// names both values, for a local layout and in a registry (by default, and
// with the no-op --layers).
func TestForgedLabel(t *testing.T) {
	host, ca := memRegistry(t)
	dir := t.TempDir()
	lay := filepath.Join(dir, "server_image")
	imageCLI(t, capsLayerCLI(t), lay, "--tag", "capslayer/server:latest")
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Labels[imagemeta.LabelCapabilities] = `{"/app/server":"cap_net_raw=ep"}`
	forged, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	forgedLay := filepath.Join(dir, "forged")
	lp, err := layout.Write(forgedLay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(forged); err != nil {
		t.Fatal(err)
	}
	const want = "the config label io.capslayer.capabilities says /app/server has cap_net_raw=ep, the layers give cap_net_bind_service=ep"
	for _, args := range [][]string{
		{"audit", "--profile", "pss-restricted", forgedLay},
		{"inspect", forgedLay},
		{"requirements", forgedLay},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, stderr, want)
		}
	}
	if code, _, stderr := runCLI(t, "push", "--repository", host+"/forged:1", "--ca-file", ca, forgedLay); code != 0 {
		t.Fatalf("push: %s", stderr)
	}
	for _, extra := range [][]string{nil, {"--layers"}} {
		code, _, stderr := runCLI(t, append([]string{"audit", "--profile", "pss-restricted", "--ca-file", ca, host + "/forged:1"}, extra...)...)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("registry %v: exit %d, stderr %q", extra, code, stderr)
		}
	}
}

func TestRegistryCLIErrors(t *testing.T) {
	host, ca := memRegistry(t)
	lay := filepath.Join(t.TempDir(), "server_image")
	imageCLI(t, capsLayerCLI(t), lay)
	plain := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(plain.Close)
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"push", lay}, "give the destination with --repository"},
		{[]string{"push", "--repository", "example.com/app:1", "--insecure", lay}, "; --insecure is only for a registry on this machine; for a remote registry whose CA the system does not trust, give the CA with --ca-file FILE"},
		{[]string{"push", "--repository", host + "/app:1", lay}, "; give its CA with --ca-file FILE (or SSL_CERT_FILE)"},
		{[]string{"inspect", "--ca-file", ca, host + "/nothing:1"}, "registry: not found"},
		{[]string{"inspect", "--ca-file", lay + "/index.json", host + "/nothing:1"}, "holds no PEM certificate; check --ca-file"},
		{[]string{"inspect", plainHost + "/nothing:1"}, "; for a plain-HTTP registry on this machine, add --insecure"},
		{[]string{"audit", "--profile", "pss-restricted", "--insecure", lay}, "--insecure and --ca-file are for registry references"},
		{[]string{"inspect", "--config", "--json", lay}, "--config and --json do not go together"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.msg)
		}
	}
}
