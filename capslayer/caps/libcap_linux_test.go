package caps

// Tests against libcap's cap package, which builds only on Linux.

import (
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"

	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// TestNamesAreLibcaps proves that the generated names.go is libcap's
// table: same NamedCount, same name for every number. After a libcap
// upgrade, run 'go generate ./capslayer/caps'.
func TestNamesAreLibcaps(t *testing.T) {
	if NamedCount != cap.NamedCount {
		t.Fatalf("NamedCount = %d, libcap's cap.NamedCount = %d: run go generate ./capslayer/caps", NamedCount, cap.NamedCount)
	}
	for c := 0; c < cap.NamedCount; c++ {
		if got, want := Name(c), cap.Value(c).String(); got != want {
			t.Errorf("Name(%d) = %q, libcap says %q: run go generate ./capslayer/caps", c, got, want)
		}
		if got, ok := Lookup(cap.Value(c).String()); !ok || got != c {
			t.Errorf("Lookup(%q) = %d, %v; want %d", cap.Value(c), got, ok, c)
		}
	}
}

// TestDifferencesFromGoFromText pins where libcap/cap's Go FromText
// parses differently from the C cap_from_text that setcap uses, which is
// why this package has its own parser. If one of these starts to agree,
// FromText may have been fixed upstream.
func TestDifferencesFromGoFromText(t *testing.T) {
	for _, tc := range []struct {
		in, why string
	}{
		{"cap_chown=p cap_kill=p", "every '=' resets the whole set in FromText; in C it clears only the listed capabilities"},
		{"CAP_CHOWN=p", "names are case-sensitive in FromText"},
		{"0x0c=p", "numbers are decimal only in FromText; C reads them with strtoul base 0"},
		{"012=p", "FromText reads 012 as decimal 12 (cap_net_admin); C as octal 10 (cap_net_bind_service)"},
		{"", "FromText rejects empty text; setcap accepts it"},
	} {
		ours, err := ParseSetcap(tc.in)
		if err != nil {
			t.Errorf("ParseSetcap(%q): %v", tc.in, err)
			continue
		}
		set, err := cap.FromText(tc.in)
		if err != nil {
			continue // differs: FromText rejects what setcap accepts
		}
		var theirs FileCaps
		for c := 0; c < NamedCount; c++ {
			v := cap.Value(c)
			if on, _ := set.GetFlag(cap.Permitted, v); on {
				theirs.Permitted |= 1 << c
			}
			if on, _ := set.GetFlag(cap.Inheritable, v); on {
				theirs.Inheritable |= 1 << c
			}
			if on, _ := set.GetFlag(cap.Effective, v); on {
				theirs.Effective = true
			}
		}
		if theirs == ours {
			t.Errorf("cap.FromText(%q) now agrees with setcap (%v); the difference %q is gone", tc.in, ours, tc.why)
		}
	}
}

// TestProcessCapsTextIsLibcaps compares ProcessCaps.String with libcap's
// (*cap.Set).String, which follows the C cap_to_text that getpcaps uses,
// for sets of named capabilities in every flag combination. The Go
// package counts the capabilities the running kernel names; the texts can
// only agree where that is NamedCount.
func TestProcessCapsTextIsLibcaps(t *testing.T) {
	if int(cap.MaxBits()) != NamedCount {
		testenv.SkipOrFail(t, "the running kernel names %d capabilities, not %d: (*cap.Set).String differs by design", cap.MaxBits(), NamedCount)
	}
	sets := []ProcessCaps{
		{},
		{Effective: 1 << 10, Permitted: 1 << 10},
		{Permitted: 1<<39 | 1<<38 | 1<<12},
		{Effective: AllNamed, Permitted: AllNamed},
		{Permitted: AllNamed &^ (1 << 24), Inheritable: 1 << 5},
		{Effective: 1 << 0, Permitted: 1<<0 | 1<<7, Inheritable: 1<<7 | 1<<40},
		{Effective: 1 << 3},
		{Effective: 0xa80425fb, Permitted: 0xa80425fb},
	}
	for i := uint64(1); i < 40; i++ {
		// Pseudo-random sets, reproducible: a multiplicative hash.
		x := i * 0x9e3779b97f4a7c15
		sets = append(sets, ProcessCaps{Effective: Mask(x) & AllNamed, Permitted: Mask(x>>7) & AllNamed, Inheritable: Mask(x>>13) & AllNamed})
	}
	for _, p := range sets {
		s := cap.NewSet()
		for _, fl := range []struct {
			f cap.Flag
			m Mask
		}{{cap.Effective, p.Effective}, {cap.Permitted, p.Permitted}, {cap.Inheritable, p.Inheritable}} {
			for _, c := range fl.m.List() {
				if err := s.SetFlag(fl.f, true, cap.Value(c)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got, want := p.String(), s.String(); got != want {
			t.Errorf("%+v.String() = %q, libcap says %q", p, got, want)
		}
	}
}
