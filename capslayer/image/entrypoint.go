package image

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// defaultPath is the PATH runtimes use when the image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// findExecutable resolves argv0 the way a runtime does before exec: an
// absolute path as is, a relative path with a slash from workdir, a bare name
// through PATH. It returns the resolved path, or an error saying why the
// program cannot run: an *EntrypointError, or an error of the filesystem
// model (a symlink loop).
func (fs *rootFS) findExecutable(argv0, workdir string, env []string) (string, error) {
	var candidates []string
	switch {
	case strings.HasPrefix(argv0, "/"):
		candidates = []string{argv0}
	case strings.Contains(argv0, "/"):
		if workdir == "" {
			workdir = "/"
		}
		candidates = []string{path.Join(workdir, argv0)}
	default:
		pathEnv := defaultPath
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				pathEnv = v
			}
		}
		for _, d := range strings.Split(pathEnv, ":") {
			if d == "" {
				d = "."
			}
			if !strings.HasPrefix(d, "/") {
				d = path.Join(workdir, d)
			}
			candidates = append(candidates, path.Join(d, argv0))
		}
	}
	var why string
	kind := ErrEntrypointNotFound
	for _, c := range candidates {
		n, rp, err := fs.resolve(c, true)
		if err != nil {
			return "", err
		}
		switch {
		case n == nil:
			continue
		case n.typ != tar.TypeReg:
			why, kind = fmt.Sprintf("%s is not a regular file", c), ErrEntrypointNotExecutable
		case n.mode&0o111 == 0:
			why, kind = fmt.Sprintf("%s is not executable (mode %04o)", c, n.mode), ErrEntrypointNotExecutable
		default:
			return rp, nil
		}
	}
	switch {
	case why != "":
	case len(candidates) == 1:
		why = candidates[0] + " exists in no layer of the image"
	default:
		why = fmt.Sprintf("%q is in no directory of PATH in the image (%s)", argv0, strings.Join(dirsOf(candidates), ":"))
	}
	return "", &EntrypointError{Argv0: argv0, Reason: why, Kind: kind}
}

func dirsOf(ps []string) []string {
	ds := make([]string, len(ps))
	for i, p := range ps {
		ds[i] = path.Dir(p)
	}
	return ds
}
