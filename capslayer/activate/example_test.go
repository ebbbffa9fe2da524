//go:build linux

package activate_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/capslayer/rules_capslayer/capslayer/activate"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// A server whose binary carries "cap_net_bind_service=p" raises it before
// binding port 80, and exits with the diagnosis when the container was not
// started in a way that grants it.
func Example() {
	if err := activate.Raise(cap.NET_BIND_SERVICE); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log.Fatal(http.ListenAndServe(":80", http.NotFoundHandler()))
}

// Print what the process can see about its privileges, for example behind a
// -diagnose flag.
func ExampleDiagnose() {
	fmt.Print(activate.Diagnose())
}

// The fields of an *Error are there for programs that want to react to the
// diagnosis rather than print it.
func ExampleError() {
	err := error(&activate.Error{
		Wanted:  []cap.Value{cap.BPF, cap.PERFMON},
		Missing: []cap.Value{cap.PERFMON},
		Held:    "cap_bpf=p",
		Causes: []activate.Cause{{
			Message: "cap_perfmon is not in the bounding set",
			Fix:     "docker run --cap-add PERFMON",
		}},
		Err: activate.ErrNotPermitted,
	})
	fmt.Println(err)
	var e *activate.Error
	if errors.As(err, &e) && errors.Is(err, activate.ErrNotPermitted) {
		fmt.Printf("missing: %v\n", e.Missing)
	}
	// Output:
	// activate: cannot raise cap_perfmon: not in the permitted set
	// current capabilities: cap_bpf=p
	// wanted capabilities: cap_perfmon,cap_bpf=ep
	// cause: cap_perfmon is not in the bounding set
	//   fix: docker run --cap-add PERFMON
	// missing: [cap_perfmon]
}
