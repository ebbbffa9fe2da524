// Command hello prints the capabilities it runs with, read from
// /proc/self/status, and can try to listen on a privileged port. It is the
// bundled example for capslayer: give it cap_net_bind_service and run it as a
// non-root user to see the file capability at work.
//
//	go build -o /tmp/hello ./examples/hello
//	go run ./capslayer layer --binary /tmp/hello --path /app/hello \
//	    --caps cap_net_bind_service=ep --output /tmp/hello.tar
//
// It uses only the standard library, so that it builds anywhere.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// capNames are the kernel's capability names by number (linux/capability.h),
// written out so that the example needs no dependency.
var capNames = []string{
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner",
	"cap_fsetid", "cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap",
	"cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
	"cap_net_admin", "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner",
	"cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
	"cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
	"cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod",
	"cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
	"cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm",
	"cap_block_suspend", "cap_audit_read", "cap_perfmon", "cap_bpf",
	"cap_checkpoint_restore",
}

// names turns a capability mask into names, e.g. "cap_net_bind_service".
func names(mask uint64) string {
	var out []string
	for c := 0; c < 64; c++ {
		if mask&(1<<c) == 0 {
			continue
		}
		if c < len(capNames) {
			out = append(out, capNames[c])
		} else {
			out = append(out, strconv.Itoa(c))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

func main() {
	listen := flag.String("listen", "", "also try to listen on this TCP address, e.g. :80")
	flag.Parse()

	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	defer f.Close()
	fmt.Printf("hello: uid %d\n", os.Getuid())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "CapPrm" && key != "CapEff") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hello: bad %s line %q\n", key, sc.Text())
			os.Exit(1)
		}
		fmt.Printf("%s: %s\n", key, names(mask))
	}

	if *listen != "" {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Printf("listen %s: %v\n", *listen, err)
			os.Exit(1)
		}
		fmt.Printf("listening on %s\n", l.Addr())
		l.Close()
	}
}
