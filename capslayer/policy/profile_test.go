package policy

import (
	"sort"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

func TestProfileMasks(t *testing.T) {
	tests := []struct {
		name  string
		mask  caps.Mask
		count int
	}{
		// Bit 10 only.
		{ProfileRestricted, 0x400, 1},
		// Docker's 14 minus NET_RAW (bit 13, 0x2000).
		{ProfileBaseline, 0xa80405fb, 13},
		// moby oci/defaults.go; CapBnd 00000000a80425fb in moby #41723.
		{ProfileDockerDefault, 0xa80425fb, 14},
		{ProfileNone, 0, 0},
	}
	for _, tc := range tests {
		p, err := LookupProfile(tc.name)
		if err != nil {
			t.Fatalf("LookupProfile(%q): %v", tc.name, err)
		}
		if p.Allowed != tc.mask {
			t.Errorf("profile %s mask = %#x, want %#x", tc.name, uint64(p.Allowed), uint64(tc.mask))
		}
		if n := len(p.Allowed.List()); n != tc.count {
			t.Errorf("profile %s has %d capabilities, want %d", tc.name, n, tc.count)
		}
		if p.Description == "" || p.Source == "" {
			t.Errorf("profile %s lacks a description or source", tc.name)
		}
	}
	docker, _ := LookupProfile(ProfileDockerDefault)
	baseline, _ := LookupProfile(ProfileBaseline)
	if docker.Allowed&^baseline.Allowed != mustMask("NET_RAW") {
		t.Errorf("docker-default minus pss-baseline = %v, want NET_RAW only", (docker.Allowed &^ baseline.Allowed).DockerNames())
	}
	want := "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT"
	got := baseline.Allowed.DockerNames()
	if sortedJoin(got) != want {
		t.Errorf("pss-baseline = %s, want %s", sortedJoin(got), want)
	}
	if got := strings.Join(ProfileNames(), ","); got != "pss-restricted,pss-baseline,docker-default,none" {
		t.Errorf("ProfileNames() = %s", got)
	}
}

func sortedJoin(s []string) string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return strings.Join(c, " ")
}

func TestLookupProfileErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"restricted", `did you mean "pss-restricted"`},
		{"PSS-Baseline", `did you mean "pss-baseline"`},
		{"strict", "profiles: pss-restricted, pss-baseline, docker-default, none"},
		{"", "unknown profile"},
	}
	for _, tc := range tests {
		_, err := LookupProfile(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LookupProfile(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestDangerous(t *testing.T) {
	want := "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER SETGID SETUID SETPCAP NET_ADMIN NET_RAW SYS_MODULE SYS_RAWIO SYS_PTRACE SYS_ADMIN SYS_BOOT MKNOD SETFCAP BPF"
	if got := strings.Join(DangerousMask().DockerNames(), " "); got != want {
		t.Errorf("DangerousMask() = %s\nwant %s", got, want)
	}
	list := Dangerous()
	if len(list) != len(DangerousMask().List()) {
		t.Fatalf("Dangerous() has %d entries, mask %d", len(list), len(DangerousMask().List()))
	}
	for i, d := range list {
		if i > 0 && list[i-1].Cap >= d.Cap {
			t.Errorf("Dangerous() not in capability order at %s", caps.DockerName(d.Cap))
		}
		if d.Reason == "" || len(d.Sources) == 0 {
			t.Errorf("%s lacks a reason or source", caps.DockerName(d.Cap))
		}
		for _, s := range d.Sources {
			if DangerSources[s] == "" {
				t.Errorf("%s cites unknown source %q", caps.DockerName(d.Cap), s)
			}
		}
	}
	for _, name := range []string{"NET_BIND_SERVICE", "KILL", "AUDIT_WRITE", "SYS_CHROOT", "FSETID"} {
		if _, ok := DangerOf(mustCap(name)); ok {
			t.Errorf("%s is on the dangerous list; it should not be", name)
		}
	}
}

func TestParseCapList(t *testing.T) {
	tests := []struct {
		in   string
		want caps.Mask
		err  string
	}{
		{in: "NET_RAW", want: 1 << 13},
		{in: "net_raw,cap_chown, CAP_KILL", want: 1<<13 | 1<<0 | 1<<5},
		{in: "all", want: ^caps.Mask(0)},
		{in: "NET_BIND_SERVCE", err: "did you mean NET_BIND_SERVICE?"},
		{in: "", err: "empty capability list"},
		{in: "frobnicate", err: `unknown capability "frobnicate"`},
	}
	for _, tc := range tests {
		got, err := ParseCapList(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCapList(%q) error = %v, want %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParseCapList(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseCapList(%q) = %#x, want %#x", tc.in, uint64(got), uint64(tc.want))
		}
	}
}

// mustMask builds a mask from capability names known at compile time.
func mustMask(names ...string) caps.Mask {
	var m caps.Mask
	for _, n := range names {
		c, ok := caps.Lookup(n)
		if !ok {
			panic("policy: unknown capability " + n)
		}
		m |= 1 << uint(c)
	}
	return m
}
