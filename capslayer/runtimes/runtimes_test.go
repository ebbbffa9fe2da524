package runtimes

import (
	"slices"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

// TestSets: the constants hold the capabilities their documentation and
// sources name.
func TestSets(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    caps.Mask
		want string
	}{
		{"DockerDefault", DockerDefault, "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE NET_RAW SETFCAP SETGID SETPCAP SETUID SYS_CHROOT"},
		{"PSSBaseline", PSSBaseline, "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT"},
		{"PSSRestricted", PSSRestricted, "NET_BIND_SERVICE"},
	} {
		names := tc.m.DockerNames()
		slices.Sort(names)
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPodSecurityLevel(t *testing.T) {
	mask := func(names ...string) caps.Mask {
		var m caps.Mask
		for _, n := range names {
			c, ok := caps.Lookup(n)
			if !ok {
				t.Fatalf("unknown capability %s", n)
			}
			m |= 1 << uint(c)
		}
		return m
	}
	for _, tc := range []struct {
		needed caps.Mask
		root   bool
		want   PSSLevel
		reason string
	}{
		{0, false, Restricted, ""},
		{mask("NET_BIND_SERVICE"), false, Restricted, ""},
		{mask("NET_BIND_SERVICE"), true, Baseline, "runAsNonRoot"},
		{mask("CHOWN"), false, Baseline, "not CHOWN"},
		{mask("NET_RAW"), false, Privileged, "adding NET_RAW"},
		{mask("SYS_ADMIN", "CHOWN"), false, Privileged, "adding SYS_ADMIN"},
	} {
		got, reason := PodSecurityLevel(tc.needed, tc.root)
		if got != tc.want || !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
			t.Errorf("%v (root %v) = %s %q, want %s with %q", tc.needed.DockerNames(), tc.root, got, reason, tc.want, tc.reason)
		}
	}
}
