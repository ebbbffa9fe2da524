package registry

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/registrytest"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// hostileOptions trusts s and reads no credentials of the host.
func hostileOptions(s *registrytest.Server) Options {
	return Options{CAFile: s.CAFile, Keychain: authn.NewMultiKeychain()}
}

// within fails the test unless f returns within d, and returns its error.
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	if el := time.Since(start); el > d {
		t.Errorf("took %s, want at most %s (error: %v)", el.Round(time.Millisecond), d, err)
	}
	return err
}

// TestRedirectLoop: a registry answering 307 to the same path ends after
// MaxRedirects redirects, with ErrRedirects (it looped forever, 148,000
// requests in 40 s, when go-containerregistry's redirect check replaced
// Go's limit).
func TestRedirectLoop(t *testing.T) {
	s := registrytest.New(t)
	s.Tag("1", s.Image(1))
	s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
		return true
	})
	err := within(t, 5*time.Second, func() error {
		_, _, err := Images(s.Host+"/app:1", hostileOptions(s))
		return err
	})
	if !errors.Is(err, ErrRedirects) || !strings.Contains(err.Error(), "more than 10 redirects") {
		t.Fatalf("got %v, want ErrRedirects", err)
	}
	// The ping, then the manifest and its 10 redirects; the 11th is not
	// sent.
	if n := s.Requests.Load(); n != 1+1+MaxRedirects {
		t.Errorf("%d requests, want %d", n, 1+1+MaxRedirects)
	}

	// The ping too: go-containerregistry pings with Go's redirect policy,
	// which stops after 10 requests.
	s = registrytest.New(t)
	s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
		return true
	})
	_, _, err = Images(s.Host+"/app:1", hostileOptions(s))
	if !errors.Is(err, ErrRedirects) || strings.Contains(err.Error(), "does not answer over TLS") {
		t.Errorf("a ping redirected in a loop: got %v, want ErrRedirects", err)
	}
}

// TestStalls: a registry that never answers, or never sends the headers,
// or drips the body, fails within the stall timeout with ErrStalled naming
// the phase; the deadline of the call ends it when the stall timeout is
// longer.
func TestStalls(t *testing.T) {
	const stall = 300 * time.Millisecond
	silent := registrytest.Silent(t)
	for _, tc := range []struct {
		name string
		hook func(*registrytest.Server) func(http.ResponseWriter, *http.Request) bool
		// timeout is Options.Timeout; the stall timeout is stall unless
		// it is set.
		timeout time.Duration
		// deadline sets Options.Deadline, this long from now.
		deadline time.Duration
		silent   bool
		want     error
		msg      string
	}{
		{name: "silent host", silent: true, want: ErrStalled, msg: "TLS handshake"},
		{name: "silent host, deadline", silent: true, timeout: stall, want: ErrTimeout, msg: "deadline of 300ms (Options.Timeout) passed"},
		{name: "silent host, Deadline", silent: true, deadline: stall, want: ErrTimeout, msg: "(Options.Deadline) passed"},
		{name: "no headers", want: ErrStalled, msg: "/manifests/1: ", hook: func(s *registrytest.Server) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				s.Stall(w, r)
				return true
			}
		}},
		{name: "drip", want: ErrStalled, msg: "fewer than 16384", hook: func(s *registrytest.Server) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				s.Drip(w, r, 1000, stall/5)
				return true
			}
		}},
		{name: "drip, deadline", timeout: 2 * stall, want: ErrTimeout, msg: "deadline of 600ms", hook: func(s *registrytest.Server) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				s.Drip(w, r, 1000, stall/5)
				return true
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := registrytest.New(t)
			s.Tag("1", s.Image(1))
			host := s.Host
			if tc.silent {
				host = silent
			}
			if tc.hook != nil {
				s.Hook(tc.hook(s))
			}
			o := hostileOptions(s)
			o.StallTimeout = stall
			if tc.timeout > 0 {
				o.Timeout, o.StallTimeout = tc.timeout, time.Minute
			}
			if tc.deadline > 0 {
				o.Deadline, o.StallTimeout = time.Now().Add(tc.deadline), time.Minute
			}
			err := within(t, 5*stall, func() error {
				_, _, err := Images(host+"/app:1", o)
				return err
			})
			t.Log(err)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v and %q", err, tc.want, tc.msg)
			}
		})
	}
}

// TestStallInLayer: a layer that drips while inspect.Scan streams it fails
// with ErrStalled.
func TestStallInLayer(t *testing.T) {
	s := registrytest.New(t)
	layer := tartest.Tar(t, tartest.File("app/server", "\x7fELF", tartest.NetBindEP))
	s.Tag("1", s.Image(1, layer))
	ld, _, err := v1.SHA256(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+ld.String()) {
			return false
		}
		s.Drip(w, r, len(layer), 50*time.Millisecond)
		return true
	})
	o := hostileOptions(s)
	o.StallTimeout = 300 * time.Millisecond
	srcs, _, err := Images(s.Host+"/app:1", o)
	if err != nil {
		t.Fatal(err)
	}
	err = within(t, 2*time.Second, func() error {
		_, err := inspect.Scan(srcs[0])
		return err
	})
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "/blobs/sha256:") {
		t.Fatalf("got %v, want ErrStalled reading the layer", err)
	}
}

// TestIndexFetchedOnce: indexes 50 wide and 4 deep where each level lists
// every index of the next (6.25 M paths to the 50 images) cost one fetch
// per manifest and config: 251 requests and the ping.
func TestIndexFetchedOnce(t *testing.T) {
	s := registrytest.New(t)
	var level []v1.Descriptor
	for i := range 50 {
		level = append(level, s.Image(i))
	}
	for range 3 {
		var up []v1.Descriptor
		for i := range 50 {
			// Each index distinct: the same children, one annotation more.
			c := append([]v1.Descriptor(nil), level...)
			c[0].Annotations = map[string]string{"n": string(rune('a' + i))}
			up = append(up, s.Index(c...))
		}
		level = up
	}
	s.Tag("1", s.Index(level...))
	srcs, _, err := Images(s.Host+"/app:1", hostileOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 50 {
		t.Errorf("%d images, want 50", len(srcs))
	}
	if n, want := s.Requests.Load(), int64(1+1+3*50+50+50); n != want {
		t.Errorf("%d requests, want %d", n, want)
	}
}

// TestIndexBounds: an index listing one image 100,000 times is refused for
// its size after two requests; 1,000 times gives the image once, in four
// requests; 1,025 times is refused for its entries; 1,000 distinct images
// exhaust the fetch budget; nested indexes past MaxIndexDepth are refused.
func TestIndexBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		build    func(s *registrytest.Server) v1.Descriptor
		want     error
		msg      string
		requests int64
	}{
		{"100,000 times one image", func(s *registrytest.Server) v1.Descriptor {
			return s.Put("application/vnd.oci.image.index.v1+json", registrytest.Repeat(s.Image(1), 100_000))
		}, ErrTooLarge, "at most 4194304 bytes (MaxManifestSize)", 2},
		{"1,000 times one image", func(s *registrytest.Server) v1.Descriptor {
			return s.Put("application/vnd.oci.image.index.v1+json", registrytest.Repeat(s.Image(1), 1000))
		}, nil, "", 4},
		{"1,025 times one image", func(s *registrytest.Server) v1.Descriptor {
			return s.Put("application/vnd.oci.image.index.v1+json", registrytest.Repeat(s.Image(1), MaxIndexEntries+1))
		}, ErrIndex, "lists 1025 manifests, more than 1024 (MaxIndexEntries)", 2},
		{"1,000 images", func(s *registrytest.Server) v1.Descriptor {
			var c []v1.Descriptor
			for i := range 1000 {
				c = append(c, s.Image(i))
			}
			return s.Index(c...)
		}, ErrBudget, "more than 1024 manifests, indexes and configs (MaxFetches)", 1 + MaxFetches},
		{"nested 9 deep", func(s *registrytest.Server) v1.Descriptor {
			d := s.Image(1)
			for range MaxIndexDepth + 1 {
				d = s.Index(d)
			}
			return d
		}, ErrIndex, "nested more than 8 deep (MaxIndexDepth)", 1 + MaxIndexDepth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := registrytest.New(t)
			s.Tag("1", tc.build(s))
			srcs, _, err := Images(s.Host+"/app:1", hostileOptions(s))
			t.Log(err)
			if tc.want == nil {
				if err != nil || len(srcs) != 1 {
					t.Fatalf("got %d images, %v; want one image", len(srcs), err)
				}
			} else if !errors.Is(err, tc.want) || !errors.Is(err, tarfs.ErrLimit) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v and %q", err, tc.want, tc.msg)
			}
			if n := s.Requests.Load(); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

// TestErrorBodyBounded: an error body is kept up to MaxErrorBodySize, and
// the message says the rest was dropped.
func TestErrorBodyBounded(t *testing.T) {
	s := registrytest.New(t)
	s.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" {
			return false
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(strings.Repeat("x", 1<<20)))
		return true
	})
	_, _, err := Images(s.Host+"/app:1", hostileOptions(s))
	if err == nil || !strings.Contains(err.Error(), "error body longer than 4096 bytes, truncated") || len(err.Error()) > MaxErrorBodySize+1024 {
		t.Fatalf("got %.2000v (%d bytes)", err, len(err.Error()))
	}
}

// TestInsecureStaysOnLoopback: with Insecure, a loopback registry cannot
// send a request over plain HTTP to another host: not by a redirect, not
// by the upload location of a push.
func TestInsecureStaysOnLoopback(t *testing.T) {
	reg := ggcrregistry.New(quiet)
	var hops int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet:
			hops++
			http.Redirect(w, r, "http://registry.example.com"+r.URL.Path, http.StatusTemporaryRedirect)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/"):
			w.Header().Set("Location", "http://registry.example.com/upload/1?_state=secret")
			w.WriteHeader(http.StatusAccepted)
		default:
			reg.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	o := Options{Insecure: true, Keychain: authn.NewMultiKeychain()}
	_, _, err := Images(host+"/app:1", o)
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "GET http://registry.example.com/v2/app/manifests/1 (redirected from GET http://"+host+"/v2/app/manifests/1)") {
		t.Errorf("redirect to plain HTTP off loopback: %v", err)
	}
	lay, _ := serverLayout(t)
	_, err = Push(lay, host+"/app:1", o)
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "http://registry.example.com/upload/1: registry.example.com is not") || strings.Contains(err.Error(), "secret") {
		t.Errorf("upload location over plain HTTP off loopback: %v", err)
	}
}
