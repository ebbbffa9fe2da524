package caps_test

import (
	"errors"
	"fmt"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

func ExampleParse() {
	for _, text := range []string{
		"cap_net_bind_service=ep",  // setcap syntax
		"NET_BIND_SERVICE,NET_RAW", // bare names mean =p
		"- BPF\n- PERFMON",         // a YAML list
	} {
		f, err := caps.Parse(text)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s %x\n", f, f.EncodeV2())
	}
	// Output:
	// cap_net_bind_service=ep 0100000200040000000000000000000000000000
	// cap_net_bind_service,cap_net_raw=p 0000000200240000000000000000000000000000
	// cap_perfmon,cap_bpf=p 000000020000000000000000c000000000000000
}

func ExampleParse_error() {
	_, err := caps.Parse("cap_net_bind_servce=ep")
	var pe *caps.ParseError
	if errors.As(err, &pe) {
		fmt.Printf("offset %d, token %q: %s\n", pe.Offset, pe.Token, pe.Suggestion)
	}
	// Output:
	// offset 0, token "cap_net_bind_servce": did you mean "cap_net_bind_service"?
}

func ExampleDecode() {
	x, err := caps.Decode([]byte("\x01\x00\x00\x03\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xe8\x03\x00\x00"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(x.Revision, x.RootID, x.Caps)
	// Output:
	// 3 1000 cap_net_bind_service=ep
}
