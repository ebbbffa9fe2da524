package registry

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/capslayer/rules_capslayer/capslayer/image"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// quiet discards the registry's request log.
var quiet = ggcrregistry.Logger(log.New(io.Discard, "", 0))

// tlsRegistry starts go-containerregistry's in-memory registry behind TLS
// on 127.0.0.1 and returns its host:port and a CA file for its certificate.
func tlsRegistry(t *testing.T, h http.Handler) (string, string) {
	t.Helper()
	if h == nil {
		h = ggcrregistry.New(quiet)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(srv.URL, "https://"), ca
}

// serverLayout builds the example server's image (an =ep file at
// /app/server, user 1000) with capslayer's image package.
func serverLayout(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	layer := tartest.WriteFile(t, "layer.tar", tartest.Tar(t, tartest.Dir("app/"), tartest.File("app/server", "\x7fELF", tartest.NetBindEP)))
	user := "1000"
	res, err := image.Build(image.Options{Layers: []string{layer}, Entrypoint: []string{"/app/server"}, User: &user, Platform: "linux/amd64", NoEntrypointCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	tag, err := image.ParseTag("example.com/server:latest")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "layout")
	if err := image.WriteLayout(out, res.Image, &tag, &res.Platform); err != nil {
		t.Fatal(err)
	}
	d, err := res.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return out, d.String()
}

func TestPushAndRead(t *testing.T) {
	host, ca := tlsRegistry(t, nil)
	lay, digest := serverLayout(t)
	o := Options{CAFile: ca, Keychain: authn.NewMultiKeychain()}
	p, err := Push(lay, host+"/caps/server:v1", o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Digest != digest || p.Reference != host+"/caps/server:v1@"+digest {
		t.Fatalf("pushed %+v, want digest %s", p, digest)
	}
	local, err := inspect.Path(lay)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{host + "/caps/server:v1", host + "/caps/server@" + digest} {
		if !IsReference(ref) {
			t.Errorf("IsReference(%q) = false", ref)
		}
		srcs, skipped, err := Images(ref, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(srcs) != 1 || len(skipped) != 0 || srcs[0].Digest != digest || srcs[0].Platform != "linux/amd64" || srcs[0].Name != ref {
			t.Fatalf("%s: sources %+v skipped %v", ref, srcs, skipped)
		}
		img, err := inspect.Scan(srcs[0])
		if err != nil {
			t.Fatal(err)
		}
		want := local.Images[0]
		want.Name = ref
		if !reflect.DeepEqual(img, want) {
			t.Errorf("%s: read from the registry\n%+v\nlocal layout\n%+v", ref, img, want)
		}
	}
}

func TestIndex(t *testing.T) {
	host, ca := tlsRegistry(t, nil)
	o := Options{CAFile: ca, Keychain: authn.NewMultiKeychain()}
	ropts, err := o.remoteOptions()
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(emptyIndex(), "application/vnd.oci.image.index.v1+json"), adds...)
	ref, _ := name.ParseReference(host + "/multi:1")
	if err := remote.WriteIndex(ref, idx, ropts...); err != nil {
		t.Fatal(err)
	}
	srcs, _, err := Images(host+"/multi:1", o)
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, s := range srcs {
		plats = append(plats, s.Platform)
		if _, err := inspect.Scan(s); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v", plats)
	}
}

func TestErrors(t *testing.T) {
	host, ca := tlsRegistry(t, nil)
	lay, _ := serverLayout(t)
	o := Options{CAFile: ca, Keychain: authn.NewMultiKeychain()}

	_, _, err := Images(host+"/nothing:here", o)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no such repository, tag or manifest") {
		t.Errorf("unknown repository: %v", err)
	}
	_, _, err = Images(host+"/caps/server:v1", Options{Keychain: authn.NewMultiKeychain()})
	if !errors.Is(err, ErrUnknownAuthority) || !strings.Contains(err.Error(), "signed by an unknown authority: trust its CA with Options.CAFile") {
		t.Errorf("without the CA: %v", err)
	}
	if _, err := Push(lay, "example.com/caps/server:v1", Options{Insecure: true}); !errors.Is(err, ErrInsecure) {
		t.Errorf("Insecure for a remote host: %v", err)
	}
	if _, err := Push(lay, host+"/caps/server@sha256:"+strings.Repeat("0", 64), o); err == nil || !strings.Contains(err.Error(), "the layout's image is sha256:") {
		t.Errorf("push to another digest: %v", err)
	}
	if _, err := (Options{CAFile: lay + "/index.json"}).remoteOptions(); !errors.Is(err, ErrCAFile) || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("bad CAFile: %v", err)
	}
	if _, err := (Options{CAFile: lay + "/none.pem"}).remoteOptions(); !errors.Is(err, ErrCAFile) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing CAFile: %v", err)
	}

	// A plain-HTTP registry on loopback: refused without Insecure, read
	// with it.
	plain := httptest.NewServer(ggcrregistry.New(quiet))
	defer plain.Close()
	phost := strings.TrimPrefix(plain.URL, "http://")
	if _, err := Push(lay, phost+"/caps/server:v1", Options{Keychain: authn.NewMultiKeychain()}); !errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "plain HTTP needs Options.Insecure") {
		t.Errorf("plain HTTP without Insecure: %v", err)
	}
	insecure := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}
	if _, err := Push(lay, phost+"/caps/server:v1", insecure); err != nil {
		t.Fatalf("plain HTTP with Insecure: %v", err)
	}
	if _, _, err := Images(phost+"/caps/server:v1", insecure); err != nil {
		t.Fatalf("plain HTTP with Insecure: %v", err)
	}
}

func TestUnauthorized(t *testing.T) {
	reg := ggcrregistry.New(quiet)
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})
	host, ca := tlsRegistry(t, auth)
	lay, _ := serverLayout(t)

	cfgDir := t.TempDir()
	write := func(user, pass string) {
		t.Helper()
		cfg := `{"auths":{"` + host + `":{"username":"` + user + `","password":"` + pass + `"}}}`
		if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DOCKER_CONFIG", cfgDir)
	o := Options{CAFile: ca} // authn.DefaultKeychain reads $DOCKER_CONFIG
	write("ci", "wrong")
	if _, err := Push(lay, host+"/caps/server:v1", o); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "docker login "+host) {
		t.Errorf("wrong password: %v", err)
	}
	write("ci", "s3cret")
	if _, err := Push(lay, host+"/caps/server:v1", o); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if _, _, err := Images(host+"/caps/server:v1", o); err != nil {
		t.Fatal(err)
	}
}

func TestIsReference(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "example.com")
	os.MkdirAll(filepath.Join(existing, "app"), 0o755)
	for s, want := range map[string]bool{
		"example.com/app:1": true,
		"127.0.0.1:5000/app@sha256:" + strings.Repeat("a", 64): true,
		"localhost/app":                true,
		"localhost:5000/a/b:c":         true,
		"[::1]:5000/app:1":             true,
		"ubuntu:24.04":                 false,
		"library/ubuntu":               false,
		"bazel-bin/app/image":          false,
		"image.tar":                    false,
		filepath.Join(existing, "app"): false,
		"example.com/App:1":            false,
		// Written as paths: never references, existing or not.
		"./missing/path":        false,
		"../missing/image:1":    false,
		"./example.com/app:1":   false,
		"/example.com/app:1":    false,
		".":                     false,
		"..":                    false,
		"./localhost:5000/a:b":  false,
		"../127.0.0.1:5000/app": false,
	} {
		if got := IsReference(s); got != want {
			t.Errorf("IsReference(%q) = %v, want %v", s, got, want)
		}
	}
}

func emptyIndex() v1.ImageIndex { return empty.Index }

// TestErrorsSpeakNoFlags: the errors that say what to do say it with
// Options' fields; the command line adds its flags.
func TestErrorsSpeakNoFlags(t *testing.T) {
	ref, _ := name.ParseReference("registry.example.com/app:1")
	_, insecure := ParseReference("registry.example.com/app:1", Options{Insecure: true})
	_, badCA := Options{CAFile: filepath.Join(t.TempDir(), "none.pem")}.remoteOptions()
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/v2/", nil)
	_, plain := (&guard{base: http.DefaultTransport}).RoundTrip(req)
	for _, tc := range []struct {
		err    error
		target error
	}{
		{insecure, ErrInsecure},
		{badCA, ErrCAFile},
		{plain, ErrPlainHTTP},
		{explain(plain, ref, "reading"), ErrPlainHTTP},
		{explain(x509.UnknownAuthorityError{}, ref, "reading"), ErrUnknownAuthority},
	} {
		if !errors.Is(tc.err, tc.target) || !strings.HasPrefix(tc.err.Error(), "registry: ") || strings.Contains(tc.err.Error(), "--") {
			t.Errorf("%v: want an error wrapping %v, starting with \"registry: \", naming no flag", tc.err, tc.target)
		}
	}
}
