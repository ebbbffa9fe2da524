package caps

// Tests against libcap's cap package, which builds only on Linux.

import (
	"testing"

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
