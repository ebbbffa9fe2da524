// Package filekind names the type of a file for error messages ("a named
// pipe (FIFO)"), so that every package that refuses a file that is not a
// regular one says what it is in the same words.
package filekind

import "io/fs"

// Of returns what a file of mode m is, with its article: "a regular file",
// "a directory", "a symlink", "a named pipe (FIFO)", "a character device",
// "a block device", "a socket", or "a special file (<type bits>)".
func Of(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}
