package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

const decodeUsage = "VALUE"

const decodeHelp = `Prints the capability text of a security.capability value exactly as getcap
prints it, e.g. "cap_net_bind_service=ep". A revision 3 value is followed by
" [rootid=N]" exactly as 'getcap -n' (libcap 2.66) prints it: N as a signed
32-bit number, and nothing for root ID 0 (the kernel stores that as revision 2).

VALUE is hex, with or without 0x, or a whole line of 'getfattr -e hex' or
'getfattr -e base64' output ("security.capability=0x01000002..." or
"security.capability=0sAQAAAg...").

Examples:
  capslayer decode 0100000200040000000000000000000000000000
  capslayer decode "$(getfattr -n security.capability -e hex FILE | grep =)"`

func runDecode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("decode", decodeUsage, decodeHelp, stderr)
	fs.textArgs()
	if err := fs.parse(args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return usagef("missing VALUE, e.g. capslayer decode 0100000200040000000000000000000000000000 (see 'capslayer decode --help')")
	case 1:
	default:
		return usagef("decode takes one VALUE argument, got %d", fs.NArg())
	}
	value, err := parseXattrValue(fs.Arg(0))
	if err != nil {
		return err
	}
	x, err := caps.Decode(value)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, x)
	return err
}

// parseXattrValue reads a value in the encodings getfattr prints: hex
// with a 0x prefix, base64 with a 0s prefix, optionally after
// "security.capability=". Bare hex is accepted too.
func parseXattrValue(arg string) ([]byte, error) {
	s := strings.TrimSpace(arg)
	if name, v, ok := strings.Cut(s, "="); ok && !strings.ContainsAny(name, " \t") && strings.Contains(name, ".") {
		if name != caps.XattrName {
			return nil, fmt.Errorf("value is for the extended attribute %q, not %s", name, caps.XattrName)
		}
		s = strings.Trim(v, `"`)
	}
	if b64, ok := strings.CutPrefix(s, "0s"); ok {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("value %q after 0s is not valid base64: %v", b64, err)
		}
		return b, nil
	}
	h := s
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		h = rest
	} else if rest, ok := strings.CutPrefix(s, "0X"); ok {
		h = rest
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("value %q is not hexadecimal (%v); pass it as 'getfattr -e hex' prints it, e.g. 0x0100000200040000000000000000000000000000", arg, err)
	}
	return b, nil
}
