package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"kitten", "sitting", 3}, {"output", "outptu", 2}, {"a", "", 1}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"audit", "inspect", "layer", "requirements"}
	for _, tc := range []struct {
		word, want string
		ok         bool
	}{
		{"inpsect", "inspect", true},
		{"requirments", "requirements", true},
		{"lyer", "layer", true},
		{"push", "", false},
		{"zzzzzzzz", "", false},
	} {
		got, ok := Closest(tc.word, cands)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.word, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Closest("x", nil); ok {
		t.Error("Closest with no candidates found one")
	}
}
