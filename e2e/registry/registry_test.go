// Package registry_test runs capslayer push, inspect, audit, requirements
// and admission-policy against a real registry: Debian's docker-registry
// (distribution 2.8), started by the test on 127.0.0.1 with TLS (a CA the
// test makes) and htpasswd authentication, and stopped at the end.
package registry_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const (
	user     = "ci"
	password = "capslayer-e2e"
)

// writePEM writes one PEM block to path.
func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// makeCA makes a CA and a server certificate for 127.0.0.1 signed by it, and
// returns the paths of the CA certificate, server certificate and key.
func makeCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "capslayer e2e CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, caFile, "CERTIFICATE", caDER)
	writePEM(t, certFile, "CERTIFICATE", srvDER)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return caFile, certFile, keyFile
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRegistry starts docker-registry with TLS and htpasswd auth; a
// cleanup stops it. It returns host:port and the CA file.
func startRegistry(t *testing.T) (string, string) {
	t.Helper()
	bin := harness.RequireTools(t, "docker-registry")[0]
	dir := t.TempDir()
	ca, cert, key := makeCA(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  tls:
    certificate: %s
    key: %s
auth:
  htpasswd:
    realm: capslayer-e2e
    path: %s
`, filepath.Join(dir, "storage"), host, cert, key, htpasswd)), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := harness.Start(t, bin, "serve", cfg)

	// Ready when /v2/ answers 401 over TLS with our CA.
	pem, _ := os.ReadFile(ca)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("https://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
			t.Fatalf("registry answered %s to an anonymous /v2/, want 401", resp.Status)
		}
		if proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("docker-registry did not come up on %s: %v\n%s", host, err, proc.Wait(t, time.Second))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return host, ca
}

// dockerConfig writes a private DOCKER_CONFIG directory with credentials
// for host.
func dockerConfig(t *testing.T, host, pass string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRegistry(t *testing.T) {
	host, ca := startRegistry(t)
	capslayer := harness.Capslayer.Path(t)
	server := harness.Server.Path(t)
	dir := t.TempDir()
	good := []string{"DOCKER_CONFIG=" + dockerConfig(t, host, password)}
	bad := []string{"DOCKER_CONFIG=" + dockerConfig(t, host, "wrong")}

	run := func(env []string, args ...string) harness.Result {
		t.Helper()
		return harness.Run(t, harness.Cmd{Args: append([]string{capslayer}, args...), Env: env})
	}
	must := func(env []string, args ...string) string {
		t.Helper()
		r := run(env, args...)
		if r.ExitCode != 0 {
			t.Fatalf("%s", r)
		}
		return r.Stdout
	}

	// The example server's image, as caps_image builds it.
	layer := filepath.Join(dir, "server.tar")
	must(nil, "layer", "--binary", server, "--path", "/app/server", "--caps", "cap_net_bind_service=ep", "--output", layer)
	var layouts, digests []string
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dir, "server_"+arch)
		d := must(nil, "image", "--layer", layer, "--entrypoint", "/app/server", "--user", "1000", "--platform", "linux/"+arch, "--no-entrypoint-check", "--tag", "capslayer/server:latest", "--output", out)
		layouts, digests = append(layouts, out), append(digests, strings.TrimSpace(d))
	}
	lay, digest := layouts[0], digests[0]

	// Push.
	tag := host + "/caps/server:v1"
	if got := must(good, "push", "--repository", tag, "--ca-file", ca, lay); got != tag+"@"+digest+"\n" {
		t.Fatalf("push printed %q, want %s@%s", got, tag, digest)
	}

	// Audit by tag and by digest gives the local layout's findings, from the
	// layers (pulled, streamed, the label verified against them), with or
	// without the no-op --layers. --label-only reads the label alone and
	// never passes.
	local := normalize(must(nil, "audit", "--profile", "pss-restricted", "--json", lay))
	for _, ref := range []string{tag, host + "/caps/server@" + digest} {
		for _, extra := range [][]string{nil, {"--layers"}} {
			args := append([]string{"audit", "--profile", "pss-restricted", "--json", "--ca-file", ca, ref}, extra...)
			r := run(good, args...)
			if r.ExitCode != 0 {
				t.Fatalf("%s", r)
			}
			if got := normalize(strings.ReplaceAll(r.Stdout, ref, lay)); got != local {
				t.Errorf("%v:\n%s\nlocal layout:\n%s", args, got, local)
			}
			if r.Stderr != "" {
				t.Errorf("%v: stderr %q", args, r.Stderr)
			}
		}
		r := run(good, "audit", "--profile", "pss-restricted", "--label-only", "--ca-file", ca, ref)
		if r.ExitCode != 1 || !strings.Contains(r.Stdout, "UNVERIFIED") || !strings.Contains(r.Stderr, "layers not read: UNVERIFIED") {
			t.Errorf("audit --label-only %s: %s", ref, r)
		}
	}
	// Pull: inspect streams every layer and verifies the label.
	table := must(good, "inspect", "--ca-file", ca, tag)
	if !strings.Contains(table, "/app/server") || !strings.Contains(table, "cap_net_bind_service=ep") || !strings.Contains(table, digest) {
		t.Errorf("inspect %s:\n%s", tag, table)
	}
	if got := must(good, "requirements", "--only", "capabilities", "--ca-file", ca, tag); got != "NET_BIND_SERVICE\n" {
		t.Errorf("requirements: %q", got)
	}
	if cfg := must(good, "inspect", "--config", "--ca-file", ca, tag); !strings.Contains(cfg, `"io.capslayer.capabilities":"{\"/app/server\":\"cap_net_bind_service=ep\"}"`) {
		t.Errorf("inspect --config lacks the label:\n%s", cfg)
	}

	// A manifest list: both platforms, each with its capabilities.
	multi := filepath.Join(dir, "multi")
	must(nil, "image", "index", "--output", multi, "--tag", "capslayer/server:multi", layouts[0], layouts[1])
	must(good, "push", "--repository", host+"/caps/server:multi", "--ca-file", ca, multi)
	out := must(good, "inspect", "--ca-file", ca, host+"/caps/server:multi")
	if !strings.Contains(out, "linux/amd64") || !strings.Contains(out, "linux/arm64") || strings.Count(out, "cap_net_bind_service=ep") != 2 {
		t.Errorf("manifest list:\n%s", out)
	}
	pol := must(good, "admission-policy", "--ca-file", ca, host+"/caps/server:multi")
	if strings.Count(pol, `: ["NET_BIND_SERVICE"]`) != 2 {
		t.Errorf("admission-policy of the manifest list lists not two digests:\n%s", pol)
	}

	// Errors: wrong password, no credentials, unknown repository, no CA.
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{bad, []string{"push", "--repository", tag, "--ca-file", ca, lay}, "refused the credentials (HTTP 401): log in with `docker login " + host + "`"},
		{bad, []string{"audit", "--profile", "pss-restricted", "--ca-file", ca, tag}, "registry: unauthorized"},
		{[]string{"DOCKER_CONFIG=" + t.TempDir()}, []string{"inspect", "--ca-file", ca, tag}, "registry: unauthorized"},
		{good, []string{"inspect", "--ca-file", ca, host + "/caps/nothing:v1"}, "registry: not found"},
		{good, []string{"inspect", tag}, "; give its CA with --ca-file FILE (or SSL_CERT_FILE)"},
	} {
		r := run(tc.env, tc.args...)
		if r.ExitCode != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("want exit 2 and %q:\n%s", tc.want, r)
		}
	}
}

// TestRegistryLabelOfAnotherAssembler pushes an image assembled as rules_oci's
// oci_image assembles one (base layers and the copy-up layer kept as they
// are, the config label from `capslayer labels`, no layer annotations) and
// audits it from the registry: the label is found and verified against the
// layers. The same image with a forged label is refused.
func TestRegistryLabelOfAnotherAssembler(t *testing.T) {
	host, ca := startRegistry(t)
	capslayer := harness.Capslayer.Path(t)
	dir := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + dockerConfig(t, host, password)}
	run := func(args ...string) harness.Result {
		t.Helper()
		return harness.Run(t, harness.Cmd{Args: append([]string{capslayer}, args...), Env: env})
	}
	im := harness.BuildBusyboxImages(t, capslayer, dir, "localhost/capslayer-e2e:")
	base := filepath.Join(dir, "busybox-base")
	labels := filepath.Join(dir, "image.labels")
	if r := run("labels", "--base", base, "--output", labels, im.Layer); r.ExitCode != 0 {
		t.Fatalf("%s", r)
	}
	b, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	key, value, _ := strings.Cut(strings.TrimSuffix(string(b), "\n"), "=")
	if key != "io.capslayer.capabilities" || value != `{"/bin/busybox":"cap_net_bind_service=ep"}` {
		t.Fatalf("labels file %q", b)
	}
	for _, tc := range []struct {
		name, label string
		ok          bool
	}{
		{"caps_labels", value, true},
		{"forged", `{"/bin/busybox":"cap_sys_admin=ep"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lay := harness.AppendWithLabel(t, base, im.Layer, filepath.Join(dir, tc.name), "1000", map[string]string{key: tc.label})
			ref := host + "/caps/busybox:" + tc.name
			if r := run("push", "--repository", ref, "--ca-file", ca, lay); r.ExitCode != 0 {
				t.Fatalf("%s", r)
			}
			r := run("audit", "--profile", "pss-restricted", "--ca-file", ca, ref)
			switch {
			case tc.ok && (r.ExitCode != 0 || !strings.Contains(r.Stdout, "/bin/busybox")):
				t.Errorf("audit of the image with caps_labels' label: want it to pass and list /bin/busybox:\n%s", r)
			case !tc.ok && (r.ExitCode == 0 || !strings.Contains(r.Stderr, "does not match the layers")):
				t.Errorf("audit of the forged label: want the mismatch reported:\n%s", r)
			}
		})
	}
}

// normalize drops the lines that name the source.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"source"`) || strings.Contains(l, `"kind"`) || strings.Contains(l, `"image"`) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
