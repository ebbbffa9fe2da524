package testenv

import "testing"

func TestStrict(t *testing.T) {
	for _, tc := range []struct {
		ci, strict string
		want       bool
	}{
		{"", "", false}, {"false", "0", false}, {"true", "", true}, {"", "1", true},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv(StrictEnv, tc.strict)
		if got := Strict(); got != tc.want {
			t.Errorf("CI=%q %s=%q: Strict() = %v, want %v", tc.ci, StrictEnv, tc.strict, got, tc.want)
		}
	}
}
