// This file holds the bounded primitives every reader uses: digest
// validation, size-limited reads and the opener of layout files.

package inspect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// checkDigest rejects digests that are not sha256 or could name a path
// outside blobs/.
func checkDigest(h v1.Hash) error {
	if !digestRE.MatchString(h.String()) {
		return fmt.Errorf("unsupported or malformed digest %q (only sha256 is supported)", h.String())
	}
	return nil
}

// readLimited reads all of r, failing past max bytes.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrLimit, what, max)
	}
	return b, nil
}

// opener opens a file of a layout by its slash-separated relative name.
type opener func(name string) (io.ReadCloser, error)

func dirOpener(dir string) opener {
	return func(name string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	}
}

func (a *archive) opener() opener {
	return func(name string) (io.ReadCloser, error) {
		rc, _, err := a.open(name)
		return rc, err
	}
}
