package caps

import "strings"

// UnsafeMode names the bits of a file mode that make file capabilities
// unsafe, "setuid, setgid, world-writable" for 07777, or "" when mode has
// none of them: set-user-ID and set-group-ID add a second privilege to the
// capabilities, and anyone who can write a world-writable file can replace
// the program while its capabilities stay. The sticky bit is harmless.
func UnsafeMode(mode int64) string {
	var n []string
	for _, b := range []struct {
		bit  int64
		name string
	}{{0o4000, "setuid"}, {0o2000, "setgid"}, {0o002, "world-writable"}} {
		if mode&b.bit != 0 {
			n = append(n, b.name)
		}
	}
	return strings.Join(n, ", ")
}
