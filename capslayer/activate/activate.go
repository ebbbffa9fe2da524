//go:build linux

package activate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// ErrNotPermitted is wrapped by an [*Error] when a wanted capability is not in
// the process's permitted set, so it cannot be raised.
var ErrNotPermitted = errors.New("activate: capability not in the permitted set")

// Error is returned by [Raise] and [Check] when the wanted capabilities
// cannot be made effective. Its message is meant to be printed as is: it says
// what the process holds, what it asked for, and the likely causes and fixes.
type Error struct {
	// Wanted are the capabilities asked for, in the order given.
	Wanted []cap.Value
	// Missing are the wanted capabilities that are not permitted.
	Missing []cap.Value
	// Held is what the process holds, in libcap's canonical text
	// (caps.ProcessCaps.String: "cap_bpf=p"; "=" for nothing).
	Held string
	// Causes are the likely reasons, most specific first (see
	// [Report.Explain]).
	Causes []Cause
	// Err is ErrNotPermitted, or the error of the system call that failed.
	Err error
}

// Error returns a multi-line message:
//
//	activate: cannot raise cap_net_bind_service: not in the permitted set
//	current capabilities: =
//	wanted capabilities: cap_net_bind_service=ep
//	cause: ...
//	  fix: ...
func (e *Error) Error() string {
	var b strings.Builder
	reason := "not in the permitted set"
	if e.Err != nil && !errors.Is(e.Err, ErrNotPermitted) {
		reason = e.Err.Error()
	}
	what := e.Missing
	if len(what) == 0 {
		what = e.Wanted
	}
	if len(what) == 0 {
		fmt.Fprintf(&b, "activate: cannot drop capabilities: %s\n", reason)
	} else {
		fmt.Fprintf(&b, "activate: cannot raise %s: %s\n", joinValues(what, ","), reason)
	}
	fmt.Fprintf(&b, "current capabilities: %s\n", e.Held)
	fmt.Fprintf(&b, "wanted capabilities: %s", wantedText(e.Wanted))
	for _, c := range e.Causes {
		fmt.Fprintf(&b, "\ncause: %s", c.Message)
		if c.Fix != "" {
			fmt.Fprintf(&b, "\n  fix: %s", c.Fix)
		}
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// wantedText is the canonical text of the wanted capabilities raised:
// "cap_bpf,cap_net_bind_service=ep".
func wantedText(vs []cap.Value) string {
	m := maskOf(vs)
	return caps.ProcessCaps{Effective: m, Permitted: m}.String()
}

// Check reports whether [Raise] could make values effective: it returns nil
// when they are all in the permitted set, and an [*Error] explaining why not
// otherwise. It changes nothing.
func Check(values ...cap.Value) error {
	_, err := check(values)
	return err
}

// check returns the process's current capabilities, or an *Error when
// values are not all permitted.
func check(values []cap.Value) (*cap.Set, error) {
	cur, err := cap.GetPID(0)
	if err != nil {
		return nil, &Error{Wanted: values, Held: "?", Err: fmt.Errorf("capget: %w", err)}
	}
	var missing []cap.Value
	for _, v := range values {
		ok, err := cur.GetFlag(cap.Permitted, v)
		if (err != nil || !ok) && !contains(missing, v) {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return cur, nil
	}
	r := Diagnose()
	return nil, &Error{
		Wanted:  values,
		Missing: missing,
		Held:    setCaps(cur).String(),
		Causes:  r.Explain(values...),
		Err:     ErrNotPermitted,
	}
}

// Raise makes exactly values effective and drops every other capability:
// afterwards the permitted and effective sets are values, the inheritable
// and ambient sets are empty, and, when the process held CAP_SETPCAP, the
// bounding set is values too (see the package documentation). It applies to
// every thread of the process. Raise() with no values drops all
// capabilities.
//
// Call it first thing in main. When a value is not in the permitted set,
// Raise changes nothing and returns an [*Error] whose message explains why
// and how to fix the container's configuration.
func Raise(values ...cap.Value) error {
	cur, err := check(values)
	if err != nil {
		return err
	}
	fail := func(op string, err error) error {
		return &Error{Wanted: values, Held: setCaps(cap.GetProc()).String(), Err: fmt.Errorf("%s: %w", op, err)}
	}

	target := cap.NewSet()
	for _, f := range []cap.Flag{cap.Permitted, cap.Effective} {
		if err := target.SetFlag(f, true, values...); err != nil {
			return fail("set "+f.String()+" flag", err)
		}
	}

	// Ambient capabilities must be both permitted and inheritable, so the
	// capset below clears them anyway; ResetAmbient makes that explicit
	// and only issues the prctl when something is set.
	if err := cap.ResetAmbient(); err != nil {
		return fail("clear ambient set", err)
	}

	if ok, _ := cur.GetFlag(cap.Permitted, cap.SETPCAP); ok {
		if err := lowerBounding(target, values); err != nil {
			return fail("lower bounding set", err)
		}
	}

	if err := target.SetProc(); err != nil {
		return fail("capset", err)
	}
	got := cap.GetProc()
	if diff, err := got.Cf(target); err != nil || diff != 0 {
		return fail("verify", fmt.Errorf("process holds %q after capset, want %q", setCaps(got).String(), setCaps(target).String()))
	}
	return nil
}

// lowerBounding drops every capability but values from the bounding set.
// Dropping needs CAP_SETPCAP effective, so it is raised alongside target for
// the duration; the caller's capset to target drops it again.
func lowerBounding(target *cap.Set, values []cap.Value) error {
	step, err := target.Dup()
	if err != nil {
		return err
	}
	for _, f := range []cap.Flag{cap.Permitted, cap.Effective} {
		if err := step.SetFlag(f, true, cap.SETPCAP); err != nil {
			return err
		}
	}
	if err := step.SetProc(); err != nil {
		return fmt.Errorf("raise cap_setpcap: %w", err)
	}
	var drop []cap.Value
	for v := cap.Value(0); v < cap.MaxBits(); v++ {
		if contains(values, v) {
			continue
		}
		if in, err := cap.GetBound(v); err == nil && in {
			drop = append(drop, v)
		}
	}
	return cap.DropBound(drop...)
}

func contains(vs []cap.Value, v cap.Value) bool {
	for _, w := range vs {
		if w == v {
			return true
		}
	}
	return false
}
