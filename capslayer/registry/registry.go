// Package registry reads images from container registries and pushes OCI
// image layouts to them, with go-containerregistry's remote package, for
// capslayer's inspect, audit, requirements, admission-policy and push.
//
// Images are read through the v1.Image interface that inspect.Scan takes:
// a layer is streamed from the registry into the tar reader (never written
// to disk, never held in memory whole), and go-containerregistry checks its
// digest while it streams.
//
// Transport security: every request goes over TLS unless Options.Insecure
// is set, which is refused for any registry that is not on a loopback
// address (localhost, 127.0.0.0/8, ::1); even then plain HTTP goes only to a
// loopback host, which is checked on every request, redirects and the upload
// locations of a push included. go-containerregistry itself falls back to
// plain HTTP for loopback and private (RFC 1918) addresses when TLS fails;
// the transport of this package refuses that downgrade instead.
//
// Bounds: a registry is remote input. Every call of Images or Push has a
// deadline (Options.Timeout) and a request budget (MaxRequests); every
// request a stall timeout (Options.StallTimeout: connecting, the TLS
// handshake, the response headers, and MinProgress bytes in each window of
// a body) and at most MaxRedirects redirects; manifests, indexes, configs
// and error bodies are size-bounded; Images fetches each manifest once per
// digest, within MaxFetches, MaxIndexEntries and MaxIndexDepth. The error
// that stops a call names its bound and wraps one of the Err values
// (ErrTimeout, ErrStalled, ErrRedirects, ErrTooLarge, ErrBudget, ErrIndex;
// the size and count ones also wrap tarfs.ErrLimit).
// Credentials come from the docker config keychain (authn.DefaultKeychain:
// $DOCKER_CONFIG/config.json or ~/.docker/config.json, as `docker login`
// writes them, and their credential helpers).
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options say how to reach registries.
type Options struct {
	// Insecure allows plain HTTP (and TLS without certificate checks is
	// never allowed). Only for registries on a loopback address.
	Insecure bool
	// CAFile is a PEM file of CA certificates trusted besides the system's
	// (SSL_CERT_FILE and SSL_CERT_DIR replace the system's, as in every Go
	// program).
	CAFile string
	// Keychain gives credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// Transport is the base transport; nil means a clone of
	// http.DefaultTransport. Tests set it.
	Transport http.RoundTripper
	// Context bounds every request; nil means context.Background().
	Context context.Context
	// Timeout bounds one call of Images, with every later read of the
	// images it returns, or of Push; 0 means DefaultTimeout.
	Timeout time.Duration
	// Deadline, when set, ends the call at that time instead, so that
	// several calls (a command reading several images) share one
	// deadline; errors name Timeout when it is set too.
	Deadline time.Time
	// StallTimeout is how long a request may make no progress (see
	// DefaultStallTimeout); 0 means DefaultStallTimeout.
	StallTimeout time.Duration
}

// Errors; the returned errors wrap them and say which registry and
// repository, and what to do in this package's words (Options' fields);
// a command line adds its flags (capslayer's cmd_source.go).
var (
	// ErrInsecure: Options.Insecure for a registry that is not on a
	// loopback address.
	ErrInsecure = errors.New("registry: plain HTTP is only allowed to a registry on a loopback address")
	// ErrPlainHTTP: a request over plain HTTP without Options.Insecure.
	ErrPlainHTTP = errors.New("registry: refusing plain HTTP")
	// ErrUnknownAuthority: the registry's TLS certificate is signed by an
	// authority trusted neither by the system nor by Options.CAFile.
	ErrUnknownAuthority = errors.New("registry: TLS certificate signed by an unknown authority")
	// ErrCAFile: Options.CAFile cannot be read or holds no PEM certificate.
	ErrCAFile = errors.New("registry: CA file")
	// ErrUnauthorized: the registry refused the credentials, or asked for
	// some and none were found.
	ErrUnauthorized = errors.New("registry: unauthorized")
	// ErrNotFound: no such repository, tag or manifest.
	ErrNotFound = errors.New("registry: not found")
	// ErrReference: not a registry reference.
	ErrReference = errors.New("registry: not an image reference")
	// ErrTooLarge: a manifest, index or config larger than its bound
	// (MaxManifestSize, MaxConfigSize, MaxMetadataSize).
	ErrTooLarge = fmt.Errorf("registry: too large (%w)", tarfs.ErrLimit)
	// ErrBudget: more requests (MaxRequests) or manifest and config fetches
	// (MaxFetches) than one call may make.
	ErrBudget = fmt.Errorf("registry: too many requests (%w)", tarfs.ErrLimit)
	// ErrIndex: an image index with more than MaxIndexEntries entries, or
	// indexes nested more than MaxIndexDepth deep.
	ErrIndex = fmt.Errorf("registry: image index too wide or too deep (%w)", tarfs.ErrLimit)
)

// IsReference reports whether arg names an image in a registry rather than
// a local file. A path is never a reference: arg is not one when it starts
// with "/", "./" or "../" (on Windows also `.\` or `..\`), is absolute,
// or when it exists on disk. Otherwise its first component must be a
// registry host (it holds a '.' or a ':' or is "localhost"), as in
// "example.com/app:1", "127.0.0.1:5000/app@sha256:...". A reference
// without a host ("ubuntu:24.04") is taken for a local path, so that a
// mistyped path never turns into a request to Docker Hub, and neither does
// a mistyped "./missing/image".
func IsReference(arg string) bool {
	if isPathLike(arg) {
		return false
	}
	if _, err := os.Lstat(arg); err == nil {
		return false
	}
	host, rest, ok := strings.Cut(arg, "/")
	if !ok || rest == "" {
		return false
	}
	if host != "localhost" && !strings.ContainsAny(host, ".:") && !strings.HasPrefix(host, "localhost:") {
		return false
	}
	_, err := name.ParseReference(arg, name.StrictValidation)
	if err != nil {
		// "host/repo" without a tag is valid too (":latest" is implied).
		_, err = name.ParseReference(arg)
	}
	return err == nil
}

// isPathLike reports whether arg is written as a path: absolute, or
// relative to "." or "..", with either separator on Windows.
func isPathLike(arg string) bool {
	if strings.HasPrefix(arg, "/") || filepath.IsAbs(arg) {
		return true
	}
	for _, p := range []string{"./", "../"} {
		if strings.HasPrefix(arg, p) || strings.HasPrefix(arg, strings.ReplaceAll(p, "/", string(filepath.Separator))) {
			return true
		}
	}
	return arg == "." || arg == ".."
}

// ParseReference parses a registry reference (HOST/REPO, HOST/REPO:TAG,
// HOST/REPO@sha256:...); with o.Insecure the host must be a loopback
// address.
func ParseReference(s string, o Options) (_ name.Reference, err error) {
	defer errprefix.Add(&err, "registry")
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(s, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrReference, s, err)
	}
	if o.Insecure && !isLoopback(ref.Context().RegistryStr()) {
		return nil, fmt.Errorf("%w: %s is not (localhost, 127.0.0.0/8, ::1); a remote registry must use TLS, with its CA in Options.CAFile if the system does not trust it", ErrInsecure, ref.Context().RegistryStr())
	}
	return ref, nil
}

// isLoopback reports whether host[:port] is a loopback name or address.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// remoteOptions are the options of every remote call.
func (o Options) remoteOptions() ([]remote.Option, error) {
	base := o.Transport
	if base == nil {
		var tc *tls.Config
		if o.CAFile != "" {
			pool, err := caPool(o.CAFile)
			if err != nil {
				return nil, err
			}
			tc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		base = baseTransport(o, tc)
	} else if o.CAFile != "" {
		if _, err := caPool(o.CAFile); err != nil {
			return nil, err
		}
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	return []remote.Option{
		remote.WithTransport(newGuard(base, o)),
		remote.WithAuthFromKeychain(kc),
		remote.WithContext(ctx),
		remote.WithUserAgent("capslayer"),
	}, nil
}

// maxCAFile bounds a CA file; a bundle of every public root is about
// 250 KB.
const maxCAFile = 4 << 20

// caPool returns the system pool plus the certificates of file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := openfile.ReadRegular(file, "CA file "+file, maxCAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCAFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w %s holds no PEM certificate", ErrCAFile, file)
	}
	return pool, nil
}

// explain turns go-containerregistry's errors into this package's, with
// what to do.
func explain(err error, ref name.Reference, what string) error {
	if err == nil {
		return nil
	}
	// Go's url.Error prints the whole URL; an upload location carries
	// the upload's state in its query.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = ""
			urlErr.URL = u.String()
		}
	}
	var te *transport.Error
	reg := ref.Context().RegistryStr()
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %s %s: registry %s refused the credentials (HTTP %d): log in with `docker login %s` (credentials are read from $DOCKER_CONFIG/config.json or ~/.docker/config.json): %v",
				ErrUnauthorized, what, ref, reg, te.StatusCode, reg, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s %s: registry %s has no such repository, tag or manifest: %v", ErrNotFound, what, ref, reg, err)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: %s %s: registry %s: %v", ErrUnauthorized, what, ref, reg, err)
			case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%w: %s %s: registry %s: %v", ErrNotFound, what, ref, reg, err)
			}
		}
	}
	var ue x509.UnknownAuthorityError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s %s: the TLS certificate of %s is signed by an unknown authority: trust its CA with Options.CAFile (or SSL_CERT_FILE): %w", ErrUnknownAuthority, what, ref, reg, err)
	}
	if !errors.Is(err, ErrRedirects) && strings.Contains(err.Error(), "stopped after 10 redirects") {
		// go-containerregistry's ping uses Go's default redirect policy,
		// whose error is a bare string.
		err = fmt.Errorf("%w: %w", ErrRedirects, err)
	}
	for _, bound := range []error{ErrTimeout, ErrStalled, ErrRedirects, ErrInsecure} {
		if errors.Is(err, bound) {
			// Not a TLS problem, even when go-containerregistry then
			// tried plain HTTP.
			return fmt.Errorf("registry: %s %s: %w", what, ref, err)
		}
	}
	if errors.Is(err, ErrPlainHTTP) {
		return fmt.Errorf("registry: %s %s: %s does not answer over TLS: %w", what, ref, reg, err)
	}
	return fmt.Errorf("registry: %s %s: %w", what, ref, err)
}
