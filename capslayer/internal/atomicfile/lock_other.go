//go:build !unix

package atomicfile

// lock does nothing where flock(2) does not exist (Windows): see the
// package documentation.
type lock struct{}

func lockFile(string) (*lock, error) { return &lock{}, nil }

func (*lock) unlock() {}
