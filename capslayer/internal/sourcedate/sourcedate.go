// Package sourcedate reads SOURCE_DATE_EPOCH, the time that reproducible
// builds put in their outputs instead of the clock
// (https://reproducible-builds.org/specs/source-date-epoch/). It is the one
// parser of it for every capslayer writer.
package sourcedate

import (
	"fmt"
	"os"
	"strconv"
)

// Name is the environment variable.
const Name = "SOURCE_DATE_EPOCH"

// Error reports a SOURCE_DATE_EPOCH that is not a non-negative integer.
type Error struct{ Value string }

func (e *Error) Error() string {
	return fmt.Sprintf("%s=%q: want a non-negative integer number of seconds since 1970-01-01T00:00:00Z; fix or unset it", Name, e.Value)
}

// FromEnv returns SOURCE_DATE_EPOCH in seconds since the Unix epoch, and
// false when it is unset or empty (the spec's "not set").
func FromEnv() (int64, bool, error) {
	s := os.Getenv(Name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, &Error{Value: s}
	}
	return n, true, nil
}
