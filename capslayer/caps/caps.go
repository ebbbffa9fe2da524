package caps

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// The capability names come from libcap's cap package, which builds only on
// Linux: names.go is generated from it so that this package builds
// everywhere, and TestNamesAreLibcaps (Linux) proves the two agree.
//go:generate go run ./internal/gennames names.go

// MaxBits is the number of capability bits a file can carry (two 32-bit
// words in vfs_cap_data revision 2 and 3).
const MaxBits = 64

// Mask is a set of capability numbers 0..63, bit n = capability n.
type Mask uint64

// AllNamed is the set of all named capabilities, what "all" means in
// capability text.
const AllNamed Mask = 1<<NamedCount - 1

// MaskOf returns the set holding the given capability numbers. Numbers
// outside 0..63 are ignored.
func MaskOf(c ...int) Mask {
	var m Mask
	for _, n := range c {
		if n >= 0 && n < MaxBits {
			m |= 1 << n
		}
	}
	return m
}

// Has reports whether capability c is in m.
func (m Mask) Has(c int) bool {
	return c >= 0 && c < MaxBits && m&(1<<c) != 0
}

// List returns the capability numbers in m, ascending.
func (m Mask) List() []int {
	l := make([]int, 0, bits.OnesCount64(uint64(m)))
	for v := uint64(m); v != 0; v &= v - 1 {
		l = append(l, bits.TrailingZeros64(v))
	}
	return l
}

// Names returns the canonical names of the capabilities in m, in
// ascending number order: lowercase libcap names such as
// "cap_net_bind_service", and decimal strings for unnamed numbers.
func (m Mask) Names() []string {
	l := m.List()
	names := make([]string, len(l))
	for i, c := range l {
		names[i] = Name(c)
	}
	return names
}

// String returns the names of m joined by commas, e.g.
// "cap_chown,cap_kill", or "none" for the empty set. A list of
// capabilities has no flags; FileCaps and ProcessCaps print sets with
// their flags ("=" when empty).
func (m Mask) String() string {
	if m == 0 {
		return "none"
	}
	return strings.Join(m.Names(), ",")
}

// FileCaps is what a file's security.capability holds: permitted and
// inheritable masks and the one effective bit.
//
// The kernel has no per-capability effective set for files: when
// Effective is true, every capability the program gains at exec is
// raised in its effective set; when false, the program starts with them
// permitted only and must raise them itself.
type FileCaps struct {
	Permitted, Inheritable Mask
	Effective              bool
}

// IsEmpty reports whether f grants nothing: no permitted and no
// inheritable bits. The effective bit alone means nothing.
func (f FileCaps) IsEmpty() bool {
	return f.Permitted == 0 && f.Inheritable == 0
}

// All returns the capabilities f mentions, Permitted | Inheritable.
func (f FileCaps) All() Mask {
	return f.Permitted | f.Inheritable
}

// ProcessCaps is the capability sets of a process (or thread) as
// capget(2) and the CapEff, CapPrm and CapInh lines of /proc/<pid>/status
// report them. Unlike a file's, a process's effective set is a set of its
// own.
type ProcessCaps struct {
	Effective, Permitted, Inheritable Mask
}

// String returns the canonical text of p, what getpcaps and capsh (libcap
// 2.66) print, in the same form as FileCaps.String: e.g.
// "cap_net_bind_service=ep", "cap_bpf=p", "=ep" (every named capability),
// or "=" when p holds nothing.
func (p ProcessCaps) String() string {
	return capText(p.state)
}

// state returns the libcap flag state of capability c in p.
func (p ProcessCaps) state(c int) int {
	s := 0
	if p.Effective.Has(c) {
		s |= stEff
	}
	if p.Permitted.Has(c) {
		s |= stPer
	}
	if p.Inheritable.Has(c) {
		s |= stInh
	}
	return s
}

// Name returns the canonical name of capability c, e.g. "cap_chown", or
// c in decimal when it has no name.
func Name(c int) string {
	if c >= 0 && c < NamedCount {
		return names[c]
	}
	return strconv.Itoa(c)
}

// DockerName returns the name Docker, podman and Kubernetes use for
// capability c: upper case without the CAP_ prefix, e.g.
// "NET_BIND_SERVICE" for 10, or c in decimal when it has no name.
func DockerName(c int) string {
	return strings.ToUpper(strings.TrimPrefix(Name(c), "cap_"))
}

// DockerNames returns the Docker names (see DockerName) of the
// capabilities in m, in ascending number order; nil for the empty set.
func (m Mask) DockerNames() []string {
	var names []string
	for _, c := range m.List() {
		names = append(names, DockerName(c))
	}
	return names
}

// MarshalJSON renders m where a set meets JSON (and YAML through JSON): an
// array of its Docker names in ascending number order, [] for the empty
// set. Go code carries the Mask; names exist only at this edge.
func (m Mask) MarshalJSON() ([]byte, error) {
	names := m.DockerNames()
	if names == nil {
		names = []string{}
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads what MarshalJSON writes; a name is any spelling
// Lookup takes, or the number of an unnamed capability.
func (m *Mask) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	var out Mask
	for _, n := range names {
		c, ok := Lookup(n)
		if !ok {
			// An unnamed capability is its number (DockerName).
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 || v >= MaxBits || DockerName(v) != n {
				return fmt.Errorf("caps: unknown capability %q", n)
			}
			c = v
		}
		out |= 1 << c
	}
	*m = out
	return nil
}

// byName maps the lowercase canonical name (with its "cap_" prefix) to
// the capability number.
var byName = func() map[string]int {
	m := make(map[string]int, NamedCount)
	for c, n := range names {
		m[n] = c
	}
	return m
}()

// Lookup returns the number of the capability called name. Names are
// case-insensitive and the "cap_" prefix is optional, so "NET_RAW",
// "net_raw", "cap_net_raw" and "CAP_NET_RAW" all give 13. Numbers and
// "all" are not names; Parse accepts them.
func Lookup(name string) (int, bool) {
	n := strings.ToLower(name)
	if c, ok := byName[n]; ok {
		return c, true
	}
	if strings.HasPrefix(n, "cap_") {
		return 0, false
	}
	c, ok := byName["cap_"+n]
	return c, ok
}

// Flag letters as libcap's cap_to_text orders its histogram of per-cap
// states: LIBCAP_EFF = 1<<CAP_EFFECTIVE, LIBCAP_PER = 1<<CAP_PERMITTED,
// LIBCAP_INH = 1<<CAP_INHERITABLE.
const (
	stEff = 1
	stPer = 2
	stInh = 4
)

// process returns the sets getcap loads from a file carrying f: the
// effective bit applies to every capability that is permitted or
// inheritable.
func (f FileCaps) process() ProcessCaps {
	p := ProcessCaps{Permitted: f.Permitted, Inheritable: f.Inheritable}
	if f.Effective {
		p.Effective = f.All()
	}
	return p
}

// flagText writes the letters of state s in libcap's order: e, i, p.
func flagText(b *strings.Builder, s int) {
	if s&stEff != 0 {
		b.WriteByte('e')
	}
	if s&stInh != 0 {
		b.WriteByte('i')
	}
	if s&stPer != 0 {
		b.WriteByte('p')
	}
}

// String returns the canonical text of f, exactly what getcap (libcap
// 2.66) prints for a file carrying f, e.g. "cap_net_bind_service=ep",
// "cap_chown,cap_kill=p", "cap_kill=i cap_chown+p", "=ep" (all named
// capabilities), "= 63+p" (an unnamed one), or "=" for the empty set.
//
// The text is parsed back to f by Parse and ParseSetcap, except that the
// effective bit of an empty set is lost, as it is in getcap.
func (f FileCaps) String() string {
	return f.process().String()
}

// capText is libcap's cap_to_text for the set whose capability c has the
// flags state(c) (stEff|stPer|stInh): the text of both FileCaps and
// ProcessCaps.
func capText(state func(c int) int) string {
	// This is libcap's cap_to_text re-implemented, because the Go
	// package's (*cap.Set).String formats differently from the C
	// library that getcap uses, and asks the running kernel how many
	// capabilities are named; we fix that number to NamedCount.
	//
	// The most common state among the named capabilities becomes the
	// "=flags" default (ties go to the state with fewer/lower bits),
	// then each other state lists its capabilities with the flags to
	// add (+) and remove (-) relative to the default, highest state
	// first. Unnamed capabilities follow, each group with "+flags".
	var histo [8]int
	for c := 0; c < NamedCount; c++ {
		histo[state(c)]++
	}
	m := 7
	for t := 6; t >= 0; t-- {
		if histo[t] >= histo[m] {
			m = t
		}
	}
	var b strings.Builder
	b.WriteByte('=')
	flagText(&b, m)
	// When the default is "nothing", libcap prints "= a,b+flags ..." as
	// "a,b=flags ...": drop the leading "= " and use '=' for the first
	// group only.
	dropDefault := m == 0
	for t := 7; t >= 0; t-- {
		if t == m || histo[t] == 0 {
			continue
		}
		b.WriteByte(' ')
		first := true
		for c := 0; c < NamedCount; c++ {
			if state(c) == t {
				if !first {
					b.WriteByte(',')
				}
				first = false
				b.WriteString(Name(c))
			}
		}
		if add := t &^ m; add != 0 {
			if dropDefault {
				b.WriteByte('=')
			} else {
				b.WriteByte('+')
			}
			flagText(&b, add)
		}
		dropDefault = false
		if del := m &^ t; del != 0 {
			b.WriteByte('-')
			flagText(&b, del)
		}
	}
	for t := 7; t >= 1; t-- {
		first := true
		for c := NamedCount; c < MaxBits; c++ {
			if state(c) != t {
				continue
			}
			if first {
				b.WriteByte(' ')
			} else {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(Name(c))
		}
		if !first {
			b.WriteByte('+')
			flagText(&b, t)
		}
	}
	s := b.String()
	if m == 0 && histo[0] != NamedCount {
		// The first group was written with '='; drop the "= " before it.
		s = s[2:]
	}
	return s
}
