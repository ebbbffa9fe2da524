// Command server is the rules_oci example's program: it listens on port 80
// as a non-root user, which only the file capability cap_net_bind_service
// that caps_layer gives it allows.
//
// Usage:
//
//	server [-addr :80] [-selftest]
//
// It answers every request with "hello from rules_oci\n". With -selftest it
// binds, fetches its own page over loopback, prints "bound <addr>", the body
// and its CapEff and CapAmb lines of /proc/self/status (where the capability
// came from: a file capability clears the ambient set at exec), and exits 0;
// a failed bind exits 1 with the error.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

const greeting = "hello from rules_oci\n"

func main() {
	addr := flag.String("addr", ":80", "address to listen on")
	selftest := flag.Bool("selftest", false, "bind, fetch / once, print it and exit")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, greeting)
	})
	if !*selftest {
		fmt.Printf("listening on %s\n", ln.Addr())
		if err := http.Serve(ln, handler); err != nil {
			fmt.Fprintf(os.Stderr, "server: %v\n", err)
			os.Exit(1)
		}
		return
	}
	go http.Serve(ln, handler)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	resp, err := http.Get("http://127.0.0.1:" + port + "/")
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("bound %s\n%s", *addr, body)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "CapEff:") || strings.HasPrefix(line, "CapAmb:") {
			fmt.Println(strings.Join(strings.Fields(line), " "))
		}
	}
}
