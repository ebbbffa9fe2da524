package caps

import "testing"

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when nothing is close enough
	}{
		{"cap_net_bind_servce", "cap_net_bind_service"},
		{"NET_BIND_SERVCE", "cap_net_bind_service"},
		{"net_rwa", "cap_net_raw"},
		{"CAP_SYS_ADMN", "cap_sys_admin"},
		{"sys_ptrace", "cap_sys_ptrace"},
		{"frobnicate_everything", ""},
	} {
		c, ok := Closest(tc.in)
		got := ""
		if ok {
			got = Name(c)
		}
		if got != tc.want {
			t.Errorf("Closest(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}
