package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of every call of Images and Push. A registry is remote input: each
// read has a time bound, a size bound and a count bound, and the error that
// stops it names the bound (errors.Is the Err values below).
const (
	// DefaultTimeout bounds one call of Images (and every later read of the
	// images it returns) or Push, when Options.Timeout is 0. It is the
	// backstop that ends a command against a registry that sends just fast
	// enough not to stall; a 2 GiB compressed image at 5 MB/s takes 7 min.
	DefaultTimeout = 10 * time.Minute
	// DefaultStallTimeout is how long a request may make no progress, when
	// Options.StallTimeout is 0: connecting, the TLS handshake, waiting for
	// the response headers, and each window of StallTimeout while a body
	// is sent or read, in which at least MinProgress bytes must pass.
	DefaultStallTimeout = 30 * time.Second
	// MinProgress is how many body bytes must pass in each StallTimeout
	// window (16 KiB in 30 s is about 550 bytes a second): a body that
	// drips a byte every few seconds is a stall.
	MinProgress = 16 << 10
	// MaxRedirects bounds the redirects followed for one request, as Go's
	// default client does (go-containerregistry's redirect check, which
	// refuses a redirect to a private address, drops Go's limit).
	MaxRedirects = 10
	// MaxRequests bounds the HTTP requests of one call of Images (with the
	// reads of its images' layers) or Push, redirects and retries
	// included.
	MaxRequests = 10000
	// MaxManifestSize bounds a manifest or image index (the OCI
	// distribution specification has registries accept at least 4 MiB).
	MaxManifestSize = 4 << 20
	// MaxErrorBodySize bounds the body of an error response that is kept
	// (for the error message); the rest is dropped, and the body says so.
	MaxErrorBodySize = 4 << 10
	// maxHeaderBytes bounds the response headers.
	maxHeaderBytes = 256 << 10
)

var (
	// ErrTimeout: the deadline of the call (Options.Timeout) passed.
	ErrTimeout = errors.New("registry: deadline exceeded")
	// ErrStalled: a request made no progress for Options.StallTimeout.
	ErrStalled = errors.New("registry: no progress")
	// ErrRedirects: more than MaxRedirects redirects for one request.
	ErrRedirects = errors.New("registry: too many redirects")
)

// guard is the transport under go-containerregistry's own (auth, retries,
// redirects): every request of one call of Images or Push, the redirects
// and upload locations the registry sends included, goes through it. It
// enforces the transport security of Options (plain HTTP only with
// Insecure, and only to a loopback host), the redirect and request
// bounds, the deadline, the stall timeout and the size bounds of
// manifests and error bodies.
type guard struct {
	base     http.RoundTripper
	insecure bool
	// deadline of the call (zero: none), said as bound in messages.
	deadline time.Time
	bound    string
	// stall is the stall timeout (zero: none).
	stall    time.Duration
	requests atomic.Int64
}

// newGuard returns the guard of one call, its deadline starting now.
func newGuard(base http.RoundTripper, o Options) *guard {
	g := &guard{base: base, insecure: o.Insecure, stall: o.stallTimeout()}
	g.deadline = time.Now().Add(o.timeout())
	g.bound = fmt.Sprintf("the deadline of %s (Options.Timeout)", o.timeout())
	if !o.Deadline.IsZero() {
		g.deadline = o.Deadline
		if o.Timeout == 0 {
			g.bound = fmt.Sprintf("the deadline %s (Options.Deadline)", o.Deadline.UTC().Format(time.RFC3339))
		}
	}
	return g
}

// baseTransport is the default base transport: http.DefaultTransport's
// settings with the connect and TLS handshake timeouts at the stall
// timeout and the response headers bounded.
func baseTransport(o Options, tc *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	stall := o.stallTimeout()
	t.DialContext = (&net.Dialer{Timeout: stall, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = stall
	t.ResponseHeaderTimeout = stall
	t.MaxResponseHeaderBytes = maxHeaderBytes
	if tc != nil {
		t.TLSClientConfig = tc
	}
	return t
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o Options) stallTimeout() time.Duration {
	if o.StallTimeout > 0 {
		return o.StallTimeout
	}
	return DefaultStallTimeout
}

// where is a request's method and URL without its query (upload locations
// carry state tokens there).
func where(r *http.Request) string {
	u := url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: r.URL.Path}
	return r.Method + " " + u.String()
}

// first returns the request that a chain of redirects started from.
func first(r *http.Request) (*http.Request, int) {
	hops := 0
	for r.Response != nil && r.Response.Request != nil {
		r = r.Response.Request
		hops++
	}
	return r, hops
}

func (g *guard) RoundTrip(r *http.Request) (*http.Response, error) {
	orig, hops := first(r)
	if hops > MaxRedirects {
		return nil, fmt.Errorf("%w: %s: more than %d redirects (the last to %s)", ErrRedirects, where(orig), MaxRedirects, where(r))
	}
	if r.URL.Scheme != "https" {
		via := ""
		if hops > 0 {
			via = fmt.Sprintf(" (redirected from %s)", where(orig))
		}
		if !g.insecure {
			return nil, fmt.Errorf("%w to %s%s: the registry must use TLS (plain HTTP needs Options.Insecure and a registry on this machine)", ErrPlainHTTP, r.URL.Host, via)
		}
		if !isLoopback(r.URL.Host) {
			return nil, fmt.Errorf("%w: %s%s: %s is not (localhost, 127.0.0.0/8, ::1); Options.Insecure never sends plain HTTP off this machine", ErrInsecure, where(r), via, r.URL.Host)
		}
	}
	if n := g.requests.Add(1); n > MaxRequests {
		return nil, fmt.Errorf("%w: %s: more than %d requests to the registry in one call", ErrBudget, where(r), MaxRequests)
	}
	if !g.deadline.IsZero() && !time.Now().Before(g.deadline) {
		return nil, g.timeoutError(r)
	}

	w := &watch{g: g, what: where(r), host: r.URL.Host}
	ctx, cancel := context.WithCancelCause(r.Context())
	if !g.deadline.IsZero() {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadlineCause(ctx, g.deadline, g.timeoutError(r))
		c := cancel
		cancel = func(err error) { c(err); cancelDeadline() }
	}
	w.cancel = cancel
	w.ctx = ctx
	ctx = httptrace.WithClientTrace(ctx, w.trace())
	r2 := r.Clone(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		w.setPhase("sending")
		r2.Body = &countingBody{rc: r.Body, w: w}
	}
	w.start()
	resp, err := g.base.RoundTrip(r2)
	if err != nil {
		w.stop()
		cancel(nil)
		return nil, w.explain(err)
	}
	w.setPhase("reading the response to")
	body := &watchedBody{rc: resp.Body, w: w}
	switch {
	case resp.StatusCode >= 400:
		body.limit, body.truncate = MaxErrorBodySize, true
	case strings.Contains(orig.URL.Path, "/manifests/") && orig.Method == http.MethodGet:
		body.limit = MaxManifestSize
	}
	resp.Body = body
	return resp, nil
}

func (g *guard) timeoutError(r *http.Request) error {
	return fmt.Errorf("%w: %s: %s passed", ErrTimeout, where(r), g.bound)
}

// watch follows one request: its phase, and whether it made progress in
// each window of the stall timeout; when it did not, it cancels the
// request with an ErrStalled that names the phase.
type watch struct {
	g      *guard
	what   string
	host   string
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	phase string
	// events counts phase changes; bytes the body bytes sent or read.
	events atomic.Int64
	bytes  atomic.Int64
	done   atomic.Bool
	timer  *time.Timer
	// at the last check
	lastEvents, lastBytes int64
}

func (w *watch) setPhase(p string) {
	w.mu.Lock()
	w.phase = p
	w.mu.Unlock()
	w.events.Add(1)
}

func (w *watch) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { w.setPhase("resolving the host of") },
		ConnectStart:         func(string, string) { w.setPhase("connecting to " + w.host + " for") },
		TLSHandshakeStart:    func() { w.setPhase("in the TLS handshake with " + w.host + " for") },
		GotConn:              func(httptrace.GotConnInfo) { w.setPhase("sending") },
		WroteRequest:         func(httptrace.WroteRequestInfo) { w.setPhase("waiting for the response to") },
		GotFirstResponseByte: func() { w.setPhase("reading the response headers of") },
	}
}

func (w *watch) start() {
	if w.g.stall <= 0 {
		return
	}
	w.mu.Lock()
	w.timer = time.AfterFunc(w.g.stall, w.check)
	w.mu.Unlock()
}

// check runs at the end of each stall window.
func (w *watch) check() {
	if w.done.Load() {
		return
	}
	ev, b := w.events.Load(), w.bytes.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev != w.lastEvents || b-w.lastBytes >= MinProgress {
		w.lastEvents, w.lastBytes = ev, b
		w.timer.Reset(w.g.stall)
		return
	}
	var err error
	if b == w.lastBytes {
		err = fmt.Errorf("%w: %s %s: nothing for %s (Options.StallTimeout)", ErrStalled, w.phase, w.what, w.g.stall)
	} else {
		err = fmt.Errorf("%w: %s %s: %d bytes in %s, fewer than %d (Options.StallTimeout)", ErrStalled, w.phase, w.what, b-w.lastBytes, w.g.stall, MinProgress)
	}
	w.cancel(err)
}

func (w *watch) stop() {
	w.done.Store(true)
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

// explain returns the cause of a request's failure: the stall or the
// deadline that canceled it, a timeout of the base transport (connect,
// TLS handshake, headers) as a stall, or err.
func (w *watch) explain(err error) error {
	if w.ctx.Err() != nil {
		if c := context.Cause(w.ctx); errors.Is(c, ErrStalled) || errors.Is(c, ErrTimeout) {
			return c
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		w.mu.Lock()
		phase := w.phase
		w.mu.Unlock()
		return fmt.Errorf("%w: %s %s: %s (Options.StallTimeout)", ErrStalled, phase, w.what, strings.TrimPrefix(err.Error(), "net/http: "))
	}
	return err
}

// countingBody counts the bytes of a request body as the transport reads
// them.
type countingBody struct {
	rc io.ReadCloser
	w  *watch
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.w.bytes.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// watchedBody is a response body: it counts the bytes read for the stall
// check, ends the request's watch at the end, and bounds the body (limit
// > 0): past limit it fails with ErrTooLarge, or, with truncate, ends with
// a note that the rest was dropped.
type watchedBody struct {
	rc       io.ReadCloser
	w        *watch
	limit    int64
	truncate bool
	n        int64
	tail     string
	closed   bool
}

const truncated = " [... error body longer than %d bytes, truncated]"

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.tail != "" {
		n := copy(p, b.tail)
		b.tail = b.tail[n:]
		if b.tail == "" {
			return n, io.EOF
		}
		return n, nil
	}
	if b.limit > 0 && b.n >= b.limit {
		// One byte more says whether the body goes on.
		var one [1]byte
		n, err := io.ReadFull(b.rc, one[:])
		if n == 0 {
			b.w.stop()
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return 0, io.EOF
			}
			return 0, b.w.explain(err)
		}
		b.w.stop()
		b.w.cancel(nil)
		if b.truncate {
			b.tail = fmt.Sprintf(truncated, b.limit)
			return b.Read(p)
		}
		return 0, fmt.Errorf("%w: %s: a manifest or index is at most %d bytes (MaxManifestSize)", ErrTooLarge, b.w.what, b.limit)
	}
	if b.limit > 0 && int64(len(p)) > b.limit-b.n {
		p = p[:b.limit-b.n]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	b.w.bytes.Add(int64(n))
	if err == io.EOF {
		b.w.stop()
	} else if err != nil {
		b.w.stop()
		err = b.w.explain(err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.w.cancel(nil)
	return err
}
