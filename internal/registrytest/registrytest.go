// Package registrytest serves a small registry for tests of hostile or
// broken registries: manifests and blobs from memory, over TLS on
// 127.0.0.1, every request counted, with a hook that may answer a request
// itself (stall, drip, redirect) instead. It serves reads only; tests that
// push wrap go-containerregistry's pkg/registry.
package registrytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Server is a registry serving what Put stored, for any repository.
type Server struct {
	// Host is the registry's host:port, CAFile a PEM file of its
	// certificate.
	Host, CAFile string
	// Requests counts the requests served.
	Requests atomic.Int64
	// Stop is closed when the test ends: a hook that blocks returns then.
	Stop chan struct{}

	mu      sync.Mutex
	objects map[string]object
	tags    map[string]string
	hook    func(http.ResponseWriter, *http.Request) bool
}

type object struct {
	mediaType types.MediaType
	data      []byte
}

// New starts a Server with TLS on 127.0.0.1, stopped when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{Stop: make(chan struct{}), objects: map[string]object{}, tags: map[string]string{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(s.Stop) }) // before srv.Close, which waits for the handlers
	s.Host = strings.TrimPrefix(srv.URL, "https://")
	s.CAFile = CAFile(t, srv)
	return s
}

// CAFile writes a PEM file of srv's certificate.
func CAFile(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

// Hook sets a function that sees every request first and answers it when
// it returns true.
func (s *Server) Hook(h func(http.ResponseWriter, *http.Request) bool) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

// Put stores data as a manifest or blob and returns its descriptor.
func (s *Server) Put(mt types.MediaType, data []byte) v1.Descriptor {
	sum := sha256.Sum256(data)
	d := v1.Descriptor{MediaType: mt, Size: int64(len(data)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
	s.mu.Lock()
	s.objects[d.Digest.String()] = object{mt, data}
	s.mu.Unlock()
	return d
}

// Tag makes tag name d, in every repository.
func (s *Server) Tag(tag string, d v1.Descriptor) {
	s.mu.Lock()
	s.tags[tag] = d.Digest.String()
	s.mu.Unlock()
}

// Image stores an image: its config (distinct for each n) and manifest,
// with the given layers (uncompressed tars).
func (s *Server) Image(n int, layers ...[]byte) v1.Descriptor {
	cf := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}, Config: v1.Config{Labels: map[string]string{"n": strconv.Itoa(n)}}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Layers: []v1.Descriptor{}}
	for _, l := range layers {
		d := s.Put(types.OCIUncompressedLayer, l)
		m.Layers = append(m.Layers, d)
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, d.Digest)
	}
	m.Config = s.Put(types.OCIConfigJSON, mustJSON(cf))
	return s.Put(types.OCIManifestSchema1, mustJSON(m))
}

// Index stores an image index of children.
func (s *Server) Index(children ...v1.Descriptor) v1.Descriptor {
	return s.Put(types.OCIImageIndex, mustJSON(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: children}))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	if h != nil && h(w, r) {
		return
	}
	if r.URL.Path == "/v2/" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{}")
		return
	}
	var ref string
	switch {
	case strings.Contains(r.URL.Path, "/manifests/"):
		ref = r.URL.Path[strings.LastIndex(r.URL.Path, "/manifests/")+len("/manifests/"):]
	case strings.Contains(r.URL.Path, "/blobs/"):
		ref = r.URL.Path[strings.LastIndex(r.URL.Path, "/blobs/")+len("/blobs/"):]
	default:
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	if d, ok := s.tags[ref]; ok {
		ref = d
	}
	o, ok := s.objects[ref]
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}`)
		return
	}
	w.Header().Set("Content-Type", string(o.mediaType))
	w.Header().Set("Docker-Content-Digest", ref)
	w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
	if r.Method != http.MethodHead {
		w.Write(o.data)
	}
}

// Stall answers nothing until the client gives up or the test ends.
func (s *Server) Stall(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.Stop:
	}
}

// Drip answers 200 with a body of size bytes announced, and sends one
// byte every interval.
func (s *Server) Drip(w http.ResponseWriter, r *http.Request, size int, every time.Duration) {
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for range size {
		select {
		case <-r.Context().Done():
			return
		case <-s.Stop:
			return
		case <-time.After(every):
		}
		if _, err := w.Write([]byte{'{'}); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}

// Silent listens on 127.0.0.1 and accepts connections but never writes
// (a TLS handshake never ends); it returns host:port.
func Silent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

// Repeat returns an image index listing d n times.
func Repeat(d v1.Descriptor, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`)
	one := mustJSON(d)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(one)
	}
	b.WriteString("]}")
	return b.Bytes()
}
