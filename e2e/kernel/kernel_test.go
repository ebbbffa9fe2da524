// Package kernel proves, with no container runtime in between, that the file
// capabilities capslayer writes into a layer reach the kernel intact and do
// what setcap's would: the layer is extracted with GNU tar and, separately,
// unpacked with umoci from an image built by `capslayer image`; the example
// server then runs from the extracted tree as uid 1000 in a private network
// namespace, and the tests read what exec granted from /proc/<pid>/status
// and connect to it on 127.0.0.1:80.
//
// See docs/e2e.md for the table of cases.
package kernel

import (
	"os"
	"testing"

	"github.com/capslayer/rules_capslayer/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// Expected security.capability values, as the kernel stores them
// (struct vfs_cap_data, include/uapi/linux/capability.h; little-endian
// magic_etc, then permitted/inheritable low words, then high words).
// cap_net_bind_service is bit 10, 0x400.
const (
	// v2 with the effective flag: setcap cap_net_bind_service=ep.
	xattrEP = "0100000200040000000000000000000000000000"
	// v2 without it: setcap cap_net_bind_service=p.
	xattrP = "0000000200040000000000000000000000000000"
	// v3 with rootid 100000 (0x000186a0): setcap -n 100000 cap_net_bind_service=ep.
	xattrEPRoot100000 = "0100000300040000000000000000000000000000a0860100"
)

// hostRoot is the host uid that is root of the user namespace in the v3
// tests.
const hostRoot = 100000

var netBind = harness.Mask(harness.CapNetBindService)

const (
	// addr80 is where the server must bind: a privileged port.
	addr80 = "127.0.0.1:80"
	// addrHigh needs no capability: a server listening there (with
	// -drop=false) shows what exec granted it even when port 80 would be
	// refused.
	addrHigh = "127.0.0.1:8080"
)
