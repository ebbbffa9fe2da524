package main

import (
	"fmt"
	"io"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

const encodeUsage = "[--rootid N] [--] TEXT"

const encodeHelp = `Prints the security.capability value that setcap TEXT would write, as
lowercase hex on one line (the same bytes as 'getfattr -e hex' shows after
the 0x).

TEXT is setcap syntax ("cap_net_bind_service=ep", "cap_chown,cap_kill+p"),
or capability names, each meaning =p ("NET_BIND_SERVICE", "bpf,perfmon",
"[NET_RAW, BPF]", or YAML "- NET_RAW" lines). Quote it as one argument; put
"--" before a TEXT that starts with '-'. See docs/capability-syntax.md.

The value is revision 2 (20 bytes), which works in every user namespace.
--rootid N writes revision 3 (24 bytes) like 'setcap -n N': the kernel
ignores such capabilities outside the user namespace whose root is host
uid N.

Examples:
  capslayer encode cap_net_bind_service=ep
  capslayer encode NET_BIND_SERVICE
  capslayer encode --rootid 100000 cap_net_bind_service=p`

func runEncode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("encode", encodeUsage, encodeHelp, stderr)
	fs.textArgs()
	var rootid rootIDFlag
	fs.Var(&rootid, "rootid", rootIDUsage)
	if err := fs.parse(args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return usagef("missing TEXT, e.g. capslayer encode cap_net_bind_service=ep (see 'capslayer encode --help')")
	case 1:
	default:
		return usagef("encode takes one TEXT argument, got %d; quote a text with spaces as one argument, e.g. 'cap_chown=p cap_kill=i'", fs.NArg())
	}
	f, err := caps.Parse(fs.Arg(0))
	if err != nil {
		return err
	}
	value := f.EncodeV2()
	if rootid != 0 {
		value = f.EncodeV3(uint32(rootid))
	}
	_, err = fmt.Fprintf(stdout, "%x\n", value)
	return err
}
