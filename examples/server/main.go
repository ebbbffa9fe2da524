// Command server is the example application of rules_capslayer: a small
// HTTP server that listens on port 80 as a non-root user, thanks to the file
// capability cap_net_bind_service that the image gives its binary.
//
// Built into an image with "cap_net_bind_service=p" (permitted, not
// effective), it is started with -raise: it then makes the capability
// effective with the activate package before binding, and when the container
// was not started in a way that grants it, prints activate's diagnosis
// (what the process holds, the likely cause, the docker or Kubernetes fix)
// instead of a bare "permission denied". Once the listener is bound it drops
// every capability, so the running server holds none.
//
// Usage:
//
//	server [-addr :80] [-raise] [-drop=true] [-check | -diagnose]
//
// The default address is :80, or $ADDR, or :$PORT. Endpoints:
//
//	GET /      a short greeting
//	GET /caps  the CapInh, CapPrm, CapEff, CapBnd, CapAmb and NoNewPrivs lines
//	           of /proc/self/status, for end-to-end checks
//
// With -check the server only binds, prints "bound <address>" and exits; with
// -diagnose it prints what the process can see about its privileges.
//
// Exit status: 0 on success (including a shutdown by SIGINT or SIGTERM), 1
// when the capability could not be raised or the address not bound (the
// diagnosis is on stderr), 2 on bad usage.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/activate"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	addr     string
	raise    bool
	drop     bool
	check    bool
	diagnose bool
}

func parseArgs(args []string, stderr io.Writer, getenv func(string) string) (config, error) {
	def := ":80"
	if a := getenv("ADDR"); a != "" {
		def = a
	} else if p := getenv("PORT"); p != "" {
		def = ":" + p
	}
	var c config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", def, "TCP `address` to listen on (default from $ADDR, or :$PORT)")
	fs.BoolVar(&c.raise, "raise", false, "make cap_net_bind_service effective before binding (for binaries with =p file capabilities)")
	fs.BoolVar(&c.drop, "drop", true, "drop every capability once the listener is bound")
	fs.BoolVar(&c.check, "check", false, "only bind the address, print \"bound <address>\" and exit")
	fs.BoolVar(&c.diagnose, "diagnose", false, "print what the process can see about its privileges and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: server [-addr :80] [-raise] [-drop=true] [-check | -diagnose]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexit status: 0 ok, 1 capability or bind failure (diagnosis on stderr), 2 bad usage\n")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("unexpected arguments %q: server takes only flags", fs.Args())
	}
	if c.check && c.diagnose {
		return c, errors.New("-check and -diagnose exclude each other")
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return c, fmt.Errorf("-addr %q: %v; want host:port such as :80 or 127.0.0.1:8080", c.addr, err)
	}
	return c, nil
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c, err := parseArgs(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return exitUsage
	}

	if c.diagnose {
		fmt.Fprint(stdout, activate.Diagnose())
		return exitOK
	}

	if c.raise {
		if err := activate.Raise(cap.NET_BIND_SERVICE); err != nil {
			fmt.Fprintf(stderr, "server: %v\n", err)
			return exitFailed
		}
	}
	l, err := net.Listen("tcp", c.addr)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		explainBind(stderr, err, c.raise)
		return exitFailed
	}
	defer l.Close()
	if c.drop {
		if err := activate.Raise(); err != nil {
			fmt.Fprintf(stderr, "server: dropping capabilities after bind: %v\n", err)
			return exitFailed
		}
	}
	if c.check {
		fmt.Fprintf(stdout, "bound %s\n", l.Addr())
		return exitOK
	}

	srv := &http.Server{Handler: newHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "server: listening on %s\n", l.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "server: %v\n", err)
		return exitFailed
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "server: shutdown: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stderr, "server: stopped")
	return exitOK
}

// explainBind adds what the process can do about a bind refused for lack of
// cap_net_bind_service.
func explainBind(w io.Writer, err error, raised bool) {
	if !errors.Is(err, syscall.EACCES) {
		return
	}
	r := activate.Diagnose()
	if nbs := int(cap.NET_BIND_SERVICE); !raised && r.Permitted.Has(nbs) && !r.Effective.Has(nbs) {
		fmt.Fprintln(w, "server: cap_net_bind_service is permitted but not effective (file capabilities =p): start the server with -raise")
		return
	}
	for _, c := range r.Explain(cap.NET_BIND_SERVICE) {
		fmt.Fprintf(w, "cause: %s\n  fix: %s\n", c.Message, c.Fix)
	}
}

// newHandler returns the server's routes.
func newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "hello from the rules_capslayer example server\n")
	})
	mux.HandleFunc("GET /caps", func(w http.ResponseWriter, r *http.Request) {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, capLines(status))
	})
	return mux
}

// capLines returns the lines of a /proc/<pid>/status that describe
// privileges, verbatim and in the file's order.
func capLines(status []byte) string {
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, _, _ := strings.Cut(sc.Text(), ":")
		switch key {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs":
			b.WriteString(sc.Text())
			b.WriteByte('\n')
		}
	}
	return b.String()
}
