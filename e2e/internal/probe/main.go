// Command probe is the payload of the engine tests (e2e/docker, e2e/cri and
// the rootless podman test): started by the engine as the container's
// entrypoint, it prints the Uid, Cap* and NoNewPrivs lines of
// /proc/self/status, tries to bind a TCP address (port 80 by default) and
// prints the result, so one short-lived container shows both what the
// engine granted and what that is good for.
//
// Usage:
//
//	probe [-addr :80] [-raise]
//	probe -exec PATH [ARG...]
//	probe -pause
//
// With -raise it first makes cap_net_bind_service effective with
// capslayer/activate (for =p file capabilities) and prints "raise: ok" or
// "raise: " and the first line of the error; the sets it prints are those
// after the attempt, the ones the bind uses. With -exec it execs PATH with
// the arguments that follow, standing in for a shell script or an init
// that starts the real program. With -pause it is a pod
// sandbox's pause process: it waits for SIGTERM or SIGINT and exits 0.
//
// Output, one fact per line:
//
//	Uid:	1000	1000	1000	1000
//	CapInh:	0000000000000000   (and CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs)
//	bind: ok                   or  bind: permission denied
//
// Exit status: 0 when the address was bound, 3 when it was not, 2 on bad
// usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/capslayer/rules_capslayer/capslayer/activate"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

func main() {
	addr := flag.String("addr", ":80", "TCP `address` to bind")
	raise := flag.Bool("raise", false, "make cap_net_bind_service effective before binding")
	pause := flag.Bool("pause", false, "wait for SIGTERM or SIGINT, then exit 0 (pod sandbox)")
	execPath := flag.String("exec", "", "exec `path` with the remaining arguments (a wrapper)")
	flag.Parse()
	if *execPath != "" {
		err := syscall.Exec(*execPath, append([]string{*execPath}, flag.Args()...), os.Environ())
		fmt.Fprintf(os.Stderr, "probe: exec %s: %v\n", *execPath, err)
		os.Exit(3)
	}
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "probe: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if *pause {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		return
	}
	if *raise {
		if err := activate.Raise(cap.NET_BIND_SERVICE); err != nil {
			first, _, _ := strings.Cut(err.Error(), "\n")
			fmt.Println("raise: " + first)
		} else {
			fmt.Println("raise: ok")
		}
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		os.Exit(3)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Cap") || strings.HasPrefix(line, "NoNewPrivs:") {
			fmt.Println(line)
		}
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Println("bind: " + errno.Error())
		} else {
			fmt.Println("bind: " + err.Error())
		}
		os.Exit(3)
	}
	l.Close()
	fmt.Println("bind: ok")
}
