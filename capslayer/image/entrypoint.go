package image

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// defaultPath is the PATH runtimes use when the image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// entrypointCandidates returns the paths a runtime tries for argv0 before
// exec: an absolute path as is, a relative path with a slash from workdir,
// a bare name in each directory of PATH.
func entrypointCandidates(argv0, workdir string, env []string) []string {
	switch {
	case strings.HasPrefix(argv0, "/"):
		return []string{path.Clean(argv0)}
	case strings.Contains(argv0, "/"):
		if workdir == "" {
			workdir = "/"
		}
		return []string{path.Join(workdir, argv0)}
	}
	pathEnv := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	var candidates []string
	for _, d := range strings.Split(pathEnv, ":") {
		if d == "" {
			d = "."
		}
		if !strings.HasPrefix(d, "/") {
			d = path.Join("/", workdir, d)
		}
		candidates = append(candidates, path.Join(d, argv0))
	}
	return candidates
}

// lookupFunc answers what the final filesystem holds at a path, as
// tarfs.Scanner.Lookup.
type lookupFunc func(p string, follow bool) (tarfs.Node, string, bool, error)

// findExecutable checks the candidates (from entrypointCandidates) in
// order, following symlinks, the way a runtime does before exec. It returns
// the resolved path of the first executable regular file, or an error
// saying why the program cannot run: an *EntrypointError, or an error of
// the filesystem model (a symlink loop).
//
// The model knows the entries whose base name is in names (and symlinks).
// When a candidate resolves, through a symlink, to a path whose base name
// is not in names, the model cannot tell what is there: findExecutable then
// returns that base name in more, for another replay that watches it too.
func findExecutable(lookup lookupFunc, argv0 string, candidates []string, names map[string]bool) (exe string, more []string, err error) {
	var why string
	kind := ErrEntrypointNotFound
	for _, c := range candidates {
		n, rp, found, err := lookup(c, true)
		if err != nil {
			return "", nil, err
		}
		switch {
		case !found:
			if b := path.Base(rp); !names[b] {
				more = append(more, b)
			}
			continue
		case n.Type != tar.TypeReg:
			why, kind = fmt.Sprintf("%s is not a regular file", c), ErrEntrypointNotExecutable
		case n.Mode&0o111 == 0:
			why, kind = fmt.Sprintf("%s is not executable (mode %04o)", c, n.Mode), ErrEntrypointNotExecutable
		default:
			return rp, nil, nil
		}
	}
	if len(more) > 0 {
		return "", more, nil
	}
	switch {
	case why != "":
	case len(candidates) == 1:
		why = candidates[0] + " exists in no layer of the image"
	default:
		why = fmt.Sprintf("%q is in no directory of PATH in the image (%s)", argv0, strings.Join(dirsOf(candidates), ":"))
	}
	return "", nil, &EntrypointError{Argv0: argv0, Reason: why, Kind: kind}
}

func dirsOf(ps []string) []string {
	ds := make([]string, len(ps))
	for i, p := range ps {
		ds[i] = path.Dir(p)
	}
	return ds
}
