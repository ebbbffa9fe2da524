package main

// Paths on the command line: every flag that names a file or directory is
// declared as an input or an output (inputFile, inputPath, outputFile,
// outputDir) instead of a plain string flag, and positional arguments are
// input paths unless a command says they are text (textArgs). The parser
// then refuses, before any work and without opening anything, an input
// that is a FIFO, a device or a socket, and an output that is one of the
// inputs (by identity: hard links and symlinks included) or lies inside an
// output directory that will be replaced. The readers check every file
// again when they open it (package openfile), so a file swapped after the
// parse is refused too.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
)

// pathRole is what a path flag names.
type pathRole int

const (
	roleInputFile  pathRole = iota // a regular file that is read
	roleInputPath                  // a regular file or a directory that is read (a layout, a base)
	roleOutputFile                 // a file that is written
	roleOutputDir                  // a directory that is written (replaced whole)
)

func (r pathRole) output() bool { return r == roleOutputFile || r == roleOutputDir }

// pathFlag is a flag naming one path (or, repeatable, several).
type pathFlag struct {
	role   pathRole
	name   string
	target *string   // single-valued: where the value goes
	values *[]string // repeatable: where the values go
}

func (p *pathFlag) String() string {
	switch {
	case p == nil:
		return ""
	case p.values != nil:
		return strings.Join(*p.values, " ")
	case p.target != nil:
		return *p.target
	}
	return ""
}

func (p *pathFlag) Set(s string) error {
	if s == "" {
		return errors.New("want a path, got an empty value")
	}
	if !p.role.output() {
		if err := checkInputPath(s, p.role == roleInputPath); err != nil {
			return err
		}
	}
	if p.values != nil {
		*p.values = append(*p.values, s)
	} else {
		*p.target = s
	}
	return nil
}

// paths returns the values given.
func (p *pathFlag) paths() []string {
	if p.values != nil {
		return *p.values
	}
	if *p.target == "" {
		return nil
	}
	return []string{*p.target}
}

// repeatablePathFlag is a pathFlag that may be given more than once.
type repeatablePathFlag struct{ *pathFlag }

func (repeatablePathFlag) repeatable() {}

// checkInputPath refuses an existing input that is neither a regular file
// nor (when dirOK) a directory. A path that does not exist passes: the
// command says so when it opens it, and a registry reference is not a
// path.
func checkInputPath(p string, dirOK bool) error {
	fi, err := os.Stat(p)
	if err != nil || (dirOK && fi.IsDir()) {
		return nil
	}
	if fi.IsDir() {
		return fmt.Errorf("%q is a directory, %w: give a file", p, openfile.ErrNotRegular)
	}
	return openfile.CheckInfo(fi, fmt.Sprintf("%q", p))
}

func (c *cmdFlags) pathVar(role pathRole, target *string, name, value, usage string) {
	*target = value
	f := &pathFlag{role: role, name: name, target: target}
	c.paths = append(c.paths, f)
	c.Var(f, name, usage)
}

// inputFile defines a flag naming a regular file to read.
func (c *cmdFlags) inputFile(name, value, usage string) *string {
	p := new(string)
	c.pathVar(roleInputFile, p, name, value, usage)
	return p
}

// inputPathVar defines a flag naming a regular file or a directory to
// read (or a registry reference, which names no local file).
func (c *cmdFlags) inputPathVar(p *string, name, value, usage string) {
	c.pathVar(roleInputPath, p, name, value, usage)
}

// inputPath is inputPathVar returning a new string.
func (c *cmdFlags) inputPath(name, value, usage string) *string {
	p := new(string)
	c.inputPathVar(p, name, value, usage)
	return p
}

// inputFiles defines a repeatable flag naming regular files to read.
func (c *cmdFlags) inputFiles(name, usage string) *[]string {
	v := new([]string)
	f := &pathFlag{role: roleInputFile, name: name, values: v}
	c.paths = append(c.paths, f)
	c.Var(repeatablePathFlag{f}, name, usage)
	return v
}

// outputFile defines a flag naming a file to write.
func (c *cmdFlags) outputFile(name, value, usage string) *string {
	p := new(string)
	c.pathVar(roleOutputFile, p, name, value, usage)
	return p
}

// outputDir defines a flag naming a directory to write.
func (c *cmdFlags) outputDir(name, value, usage string) *string {
	p := new(string)
	c.pathVar(roleOutputDir, p, name, value, usage)
	return p
}

// textArgs says that the positional arguments are not paths.
func (c *cmdFlags) textArgs() { c.argsAreText = true }

// namedPath is a path given on the command line, and where.
type namedPath struct {
	where string // "--from-tar", "argument 1"
	path  string
	role  pathRole
}

func (n namedPath) String() string { return fmt.Sprintf("%s %q", n.where, n.path) }

// checkPaths refuses positional inputs that are FIFOs, devices or sockets,
// an output inside an input directory, two outputs that are the same file,
// and an output that is an input or would replace a directory holding one.
// It runs after the flags are parsed.
func (c *cmdFlags) checkPaths() error {
	var ins, outs []namedPath
	for _, f := range c.paths {
		for _, p := range f.paths() {
			n := namedPath{"--" + f.name, p, f.role}
			if f.role.output() {
				outs = append(outs, n)
			} else {
				ins = append(ins, n)
			}
		}
	}
	if !c.argsAreText {
		for i, a := range c.args {
			if err := checkInputPath(a, true); err != nil {
				return c.usageErr("argument %d: %v", i+1, err)
			}
			ins = append(ins, namedPath{fmt.Sprintf("argument %d", i+1), a, roleInputPath})
		}
	}
	for _, o := range outs {
		for _, in := range ins {
			if under(o.path, in.path) {
				return c.usageErr("output %s is inside the input directory %s, and writing it changes the input: write outside it", o, in)
			}
		}
	}
	for i, o := range outs {
		oi, err := os.Stat(o.path)
		if err != nil {
			continue // a new file is no input
		}
		for _, o2 := range outs[i+1:] {
			if same(oi, o2.path) {
				return c.usageErr("%s and %s are the same file: give each output its own path", o, o2)
			}
		}
		for _, in := range ins {
			if same(oi, in.path) {
				return c.usageErr("output %s is also the input %s: an output never replaces an input; write to another path", o, in)
			}
			if o.role == roleOutputDir && under(in.path, o.path) { // in == o was refused just above
				return c.usageErr("output directory %s holds the input %s, and writing it replaces the directory: write to another path", o, in)
			}
		}
	}
	return nil
}

// under reports whether path p, existing or not, is strictly inside the
// existing directory dir, symlinks resolved: p's nearest existing ancestor
// is resolved and the rest of p appended.
func under(p, dir string) bool {
	if di, err := os.Stat(dir); err != nil || !di.IsDir() {
		return false
	}
	rd, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	rest := ""
	for {
		if rp, err := filepath.EvalSymlinks(abs); err == nil {
			rel, err := filepath.Rel(rd, filepath.Join(rp, rest))
			return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return false
		}
		rest = filepath.Join(filepath.Base(abs), rest)
		abs = parent
	}
}

// same reports whether the file p exists and is the file fi describes.
func same(fi fs.FileInfo, p string) bool {
	pi, err := os.Stat(p)
	return err == nil && os.SameFile(fi, pi)
}
