package sourcedate

import (
	"errors"
	"testing"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		sec  int64
		set  bool
		fail bool
	}{
		{"", 0, false, false},
		{"0", 0, true, false},
		{"1700000000", 1700000000, true, false},
		{"yesterday", 0, false, true},
		{"-1", 0, false, true},
		{"1.5", 0, false, true},
		{"99999999999999999999", 0, false, true},
	} {
		t.Setenv(Name, tc.env)
		sec, set, err := FromEnv()
		var e *Error
		if sec != tc.sec || set != tc.set || (err != nil) != tc.fail || (err != nil && (!errors.As(err, &e) || e.Value != tc.env)) {
			t.Errorf("SOURCE_DATE_EPOCH=%q: FromEnv() = %d, %v, %v", tc.env, sec, set, err)
		}
	}
}
