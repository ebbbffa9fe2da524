package kubernetes

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

// BinDirEnv names the directory holding kube-apiserver, kubelet and etcd,
// as e2e/kubernetes/build.sh prints it.
const BinDirEnv = "CAPSLAYER_KUBE_BIN_DIR"

// buildScriptEnv is the runfiles path of build.sh under Bazel.
const buildScriptEnv = "KUBE_BUILD_SH"

// kubeBins returns the directory of the Kubernetes binaries: $CAPSLAYER_KUBE_BIN_DIR,
// else the cache directory build.sh would fill when it already holds them.
// Missing binaries skip the test, or fail it in CI.
func kubeBins(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(BinDirEnv)
	how := "$" + BinDirEnv
	if dir == "" {
		script := "build.sh"
		if v := os.Getenv(buildScriptEnv); v != "" {
			script = runfile(v)
		}
		out, err := exec.Command("bash", script, "--dir").Output()
		if err != nil {
			harness.SkipOrFail(t, "%s is not set and %s --dir failed (%v): build the Kubernetes binaries with e2e/kubernetes/build.sh and set %s=$(e2e/kubernetes/build.sh)", BinDirEnv, script, err, BinDirEnv)
		}
		dir, how = strings.TrimSpace(string(out)), "build.sh's cache directory"
	}
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kubelet"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		harness.SkipOrFail(t, "no %v in %s (%s): build them with e2e/kubernetes/build.sh (about 11 CPU-minutes the first time, cached afterwards) and set %s=$(e2e/kubernetes/build.sh); under tools/bazel, tools/offline/provision.sh mounts that folder into the chroot when the Bazel server starts: set %s, then tools/bazel shutdown", missing, dir, how, BinDirEnv, BinDirEnv)
	}
	return dir
}

// runfile resolves a $(rootpath) value against the test's runfiles.
func runfile(p string) string {
	for _, d := range []string{os.Getenv("RUNFILES_DIR"), os.Getenv("TEST_SRCDIR")} {
		if d == "" {
			continue
		}
		for _, c := range []string{filepath.Join(d, "_main", p), filepath.Join(d, p)} {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		}
	}
	return p
}

// controlPlane is a private etcd and kube-apiserver on 127.0.0.1, with a
// bearer token in group system:masters and AlwaysAllow authorization.
type controlPlane struct {
	dir, bins  string
	url, token string
	// caFile is the API server's self-signed serving certificate chain.
	caFile  string
	version string
	client  *http.Client
	etcd    *harness.Proc
	api     *harness.Proc
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startControlPlane starts etcd, then the API server, and waits until the
// API server is ready. Cleanups stop the API server first (it hangs in its
// graceful shutdown when etcd is gone) and check nothing is left.
func startControlPlane(t *testing.T, bins string) *controlPlane {
	t.Helper()
	start := time.Now()
	cp := &controlPlane{dir: harness.WorldDir(t), bins: bins}
	harness.CleanUpAfter(t, cp.dir)

	etcdClient, etcdPeer := freePort(t), freePort(t)
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	cp.etcd = harness.Start(t, filepath.Join(bins, "etcd"),
		"--name=capslayer-e2e", "--data-dir="+filepath.Join(cp.dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=capslayer-e2e="+peerURL,
		// A test's data does not need to survive a power cut.
		"--unsafe-no-fsync", "--log-level=warn")
	t.Cleanup(func() { harness.StopGracefully(t, cp.etcd, 30*time.Second) })
	waitFor(t, "etcd's /health", cp.etcd, 60*time.Second, func() error {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(clientURL + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"health":"true"`)) {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return nil
	})

	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	cp.token = hex.EncodeToString(tok)
	tokens := filepath.Join(cp.dir, "tokens.csv")
	writeFile(t, tokens, cp.token+`,capslayer-e2e-admin,capslayer-e2e-admin,"system:masters"`+"\n", 0o600)
	saKey, saPub := serviceAccountKeys(t, cp.dir)
	apiPort := freePort(t)
	certDir := filepath.Join(cp.dir, "certs")
	cp.url = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	cp.api = harness.Start(t, filepath.Join(bins, "kube-apiserver"),
		"--etcd-servers="+clientURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiPort), "--cert-dir="+certDir,
		"--token-auth-file="+tokens, "--authorization-mode=AlwaysAllow",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		// Nothing serves the "kubernetes" Service; its endpoints would name
		// a host address the tests never use.
		"--endpoint-reconciler-type=none",
		// As every cluster that runs system pods: the privileged cases
		// must reach the policies instead of failing validation.
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false")
	t.Cleanup(func() { harness.StopGracefully(t, cp.api, 60*time.Second) })
	cp.caFile = filepath.Join(certDir, "apiserver.crt")
	waitFor(t, "the API server's /readyz", cp.api, 120*time.Second, func() error {
		if cp.client == nil {
			pem, err := os.ReadFile(cp.caFile)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("no certificate in %s yet", cp.caFile)
			}
			cp.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		}
		code, body, err := cp.do("GET", "/readyz", nil)
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("%d: %s", code, body)
		}
		return nil
	})
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	cp.mustDo(t, "GET", "/version", nil, &v)
	cp.version = strings.TrimPrefix(v.GitVersion, "v")
	// The API server creates these namespaces, without the service
	// account pods need.
	for _, ns := range []string{"default", "kube-system"} {
		cp.serviceAccount(t, ns)
	}
	t.Logf("etcd and kube-apiserver %s ready in %v", v.GitVersion, time.Since(start).Round(time.Millisecond))
	return cp
}

// serviceAccountKeys writes the service-account signing key pair (ECDSA
// P-256, PEM) and returns the private and public key files.
func serviceAccountKeys(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv})), 0o600)
	writeFile(t, pubFile, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), 0o644)
	return keyFile, pubFile
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls check until it succeeds, the process exits or timeout.
func waitFor(t *testing.T, what string, p *harness.Proc, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if p != nil && p.Exited() {
			t.Fatalf("%s: the process exited: %v\n%s", what, err, tail(p.Result().String(), 8000))
		}
		if time.Now().After(deadline) {
			msg := ""
			if p != nil {
				msg = tail(p.Result().String(), 8000)
			}
			t.Fatalf("%s: not after %v: %v\n%s", what, timeout, err, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// apiError is a failed request: the status code and the API's Status
// message.
type apiError struct {
	Code    int
	Message string
	Reason  metav1.StatusReason
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Code, e.Reason, e.Message) }

// maxBody bounds what the tests read of a response.
const maxBody = 16 << 20

// do sends a request with the bearer token; body is marshalled to JSON
// unless it is already []byte.
func (cp *controlPlane) do(method, path string, body any) (int, []byte, error) {
	code, b, _, err := cp.doHeader(method, path, body)
	return code, b, err
}

// doWarn is do for a request that must succeed; it returns the API's
// warnings (the Warning headers), one a line.
func (cp *controlPlane) doWarn(t *testing.T, method, path string, body any) (int, []byte, string) {
	t.Helper()
	code, b, h, err := cp.doHeader(method, path, body)
	if err != nil || code/100 != 2 {
		t.Fatalf("%s %s: %d %v: %s", method, path, code, err, b)
	}
	return code, b, strings.Join(h.Values("Warning"), "\n")
}

func (cp *controlPlane) doHeader(method, path string, body any) (int, []byte, http.Header, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, cp.url+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cp.token)
	req.Header.Set("Accept", "application/json")
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cp.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, b, resp.Header, err
}

// request is do, decoding a 2xx answer into out (when not nil) and
// returning any other as an *apiError.
func (cp *controlPlane) request(method, path string, body, out any) error {
	code, b, err := cp.do(method, path, body)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		e := &apiError{Code: code, Message: string(b)}
		var st metav1.Status
		if json.Unmarshal(b, &st) == nil && st.Message != "" {
			e.Message, e.Reason = st.Message, st.Reason
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (cp *controlPlane) mustDo(t *testing.T, method, path string, body, out any) {
	t.Helper()
	if err := cp.request(method, path, body, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// namespace creates a namespace with labels and its "default" service
// account (there is no controller manager to create it), without a token
// mounted into pods (no controller publishes kube-root-ca.crt either).
func (cp *controlPlane) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	cp.mustDo(t, "POST", "/api/v1/namespaces", &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, nil)
	cp.serviceAccount(t, name)
}

// serviceAccount creates the "default" service account of namespace ns.
func (cp *controlPlane) serviceAccount(t *testing.T, ns string) {
	t.Helper()
	no := false
	cp.mustDo(t, "POST", "/api/v1/namespaces/"+ns+"/serviceaccounts", &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   metav1.ObjectMeta{Name: "default"},
		AutomountServiceAccountToken: &no,
	}, nil)
}

// resourcePaths maps the kinds the tests apply to their collections.
var resourcePaths = map[string]string{
	"admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy":        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
	"admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding": "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
}

// object is what create reads of an object from its document.
type object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
}

// create creates every object of a YAML stream, as `kubectl create -f`
// does, and returns them.
func (cp *controlPlane) create(t *testing.T, stream []byte) []object {
	t.Helper()
	var objs []object
	for _, doc := range bytes.Split(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("YAML document: %v\n%s", err, doc)
		}
		var o object
		if err := json.Unmarshal(j, &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind == "" {
			continue // a document of comments only
		}
		p, ok := resourcePaths[o.APIVersion+" "+o.Kind]
		if !ok {
			t.Fatalf("no path known for %s %s", o.APIVersion, o.Kind)
		}
		cp.mustDo(t, "POST", p, j, nil)
		objs = append(objs, o)
	}
	return objs
}

// remove deletes objects create made.
func (cp *controlPlane) remove(t *testing.T, objs []object) {
	t.Helper()
	for _, o := range objs {
		p := resourcePaths[o.APIVersion+" "+o.Kind] + "/" + o.Metadata.Name
		if err := cp.request("DELETE", p, nil, nil); err != nil {
			t.Errorf("DELETE %s: %v", p, err)
		}
	}
}

// createPod creates a pod (dryRun: admission runs, nothing is stored). It
// returns the API's error, e.g. an admission denial, or nil.
func (cp *controlPlane) createPod(ns string, pod *corev1.Pod, dryRun bool) error {
	pod.APIVersion, pod.Kind = "v1", "Pod"
	q := ""
	if dryRun {
		q = "?dryRun=All"
	}
	return cp.request("POST", "/api/v1/namespaces/"+ns+"/pods"+q, pod, nil)
}

func (cp *controlPlane) getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	cp.mustDo(t, "GET", "/api/v1/namespaces/"+ns+"/pods/"+name, nil, &p)
	return &p
}
