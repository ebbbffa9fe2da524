package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// allFlagSets returns the flag set of every command and subcommand, keyed
// by its name ("image index"), made by running each with --help.
func allFlagSets(t *testing.T) map[string]*cmdFlags {
	t.Helper()
	sets := map[string]*cmdFlags{}
	old := flagSetCreated
	flagSetCreated = func(c *cmdFlags) { sets[c.name] = c }
	defer func() { flagSetCreated = old }()
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		run([]string{n, "--help"}, new(bytes.Buffer), new(bytes.Buffer))
	}
	for sub := range imageSubcommands {
		run([]string{"image", sub, "--help"}, new(bytes.Buffer), new(bytes.Buffer))
	}
	if len(sets) < len(commands)+len(imageSubcommands) {
		t.Fatalf("collected %d flag sets for %d commands", len(sets), len(commands))
	}
	return sets
}

// runTimed runs capslayer with args and fails the test if it does not end
// within d: a command that opens a FIFO blocks forever.
func runTimed(t *testing.T, d time.Duration, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		done <- result{code, stderr.String()}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(d):
		t.Fatalf("capslayer %s did not end within %s", strings.Join(args, " "), d)
		return 0, ""
	}
}

func cmdArgs(name string, rest ...string) []string {
	return append(strings.Fields(name), rest...)
}

// TestEveryFileFlagIsAPathFlag keeps the next tests complete: a flag whose
// value names a host file or directory (its placeholder is file, tar or
// dir) must be declared as an input or an output path.
func TestEveryFileFlagIsAPathFlag(t *testing.T) {
	inImage := []string{"workdir"} // a directory of the image, not of the host
	for name, c := range allFlagSets(t) {
		c.VisitAll(func(f *flag.Flag) {
			placeholder, _ := flag.UnquoteUsage(f)
			if !slices.Contains([]string{"file", "tar", "dir"}, placeholder) || slices.Contains(inImage, f.Name) {
				return
			}
			switch f.Value.(type) {
			case *pathFlag, repeatablePathFlag:
			default:
				t.Errorf("%s --%s names a %s but is a %T: declare it with inputFile, inputFiles, inputPathVar, outputFile or outputDir", name, f.Name, placeholder, f.Value)
			}
		})
	}
}

// TestOutputNeverAnInput gives every output flag of every command the path
// of one of its inputs (the same name, a hard link, a symlink): each is
// refused before any work, and the input is left as it was.
func TestOutputNeverAnInput(t *testing.T) {
	dir := t.TempDir()
	const content = "input that must survive\n"
	var covered int
	for name, c := range allFlagSets(t) {
		var inputs []string // how an input is given: "--flag" or "" (positional)
		for _, f := range c.paths {
			if !f.role.output() {
				inputs = append(inputs, "--"+f.name)
			}
		}
		if !c.argsAreText {
			inputs = append(inputs, "")
		}
		for _, out := range c.paths {
			if out.role != roleOutputFile {
				continue
			}
			for _, in := range inputs {
				for _, alias := range []string{"same", "hardlink", "symlink"} {
					file := filepath.Join(dir, "input")
					os.Remove(file)
					if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
					outPath := filepath.Join(dir, "output-"+alias)
					os.Remove(outPath)
					switch alias {
					case "same":
						outPath = file
					case "hardlink":
						if err := os.Link(file, outPath); err != nil {
							t.Fatal(err)
						}
					case "symlink":
						if err := os.Symlink(file, outPath); err != nil {
							t.Fatal(err)
						}
					}
					args := cmdArgs(name, "--"+out.name, outPath)
					if in == "" {
						args = append(args, file)
					} else {
						args = append(args, in, file)
					}
					covered++
					code, stderr := runTimed(t, 10*time.Second, args...)
					if code != 2 || !strings.Contains(stderr, "is also the input") {
						t.Errorf("capslayer %s: exit %d, stderr %q; want 2 and a refusal", strings.Join(args, " "), code, stderr)
					}
					if b, err := os.ReadFile(file); err != nil || string(b) != content {
						t.Errorf("capslayer %s changed its input: %q, %v", strings.Join(args, " "), b, err)
					}
				}
			}
		}
	}
	if covered < 20 {
		t.Errorf("only %d output/input pairs covered", covered)
	}
}

// TestOutputInsideAnInputDir gives every output of every command a path
// inside a directory given as one of its inputs (an existing file, a new
// file, a new file through a symlinked directory): each is refused before
// any work, and the directory is left as it was.
func TestOutputInsideAnInputDir(t *testing.T) {
	var covered int
	for name, c := range allFlagSets(t) {
		var inputs []string // "--flag" or "" (positional); flags that take a directory
		for _, f := range c.paths {
			if f.role == roleInputPath {
				inputs = append(inputs, "--"+f.name)
			}
		}
		if !c.argsAreText {
			inputs = append(inputs, "")
		}
		for _, out := range c.paths {
			if !out.role.output() {
				continue
			}
			for _, in := range inputs {
				for _, where := range []string{"existing", "new", "symlinked"} {
					top := t.TempDir()
					dir := filepath.Join(top, "layout")
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					const content = "{}\n"
					if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
					outPath := filepath.Join(dir, "index.json")
					switch where {
					case "new":
						outPath = filepath.Join(dir, "sub", "new")
					case "symlinked":
						if err := os.Symlink(dir, filepath.Join(top, "link")); err != nil {
							t.Fatal(err)
						}
						outPath = filepath.Join(top, "link", "new")
					}
					args := cmdArgs(name, "--"+out.name, outPath)
					if in == "" {
						args = append(args, dir)
					} else {
						args = append(args, in, dir)
					}
					covered++
					code, stderr := runTimed(t, 10*time.Second, args...)
					if code != 2 || !strings.Contains(stderr, "is inside the input directory") {
						t.Errorf("capslayer %s: exit %d, stderr %q; want 2 and a refusal", strings.Join(args, " "), code, stderr)
					}
					entries, _ := os.ReadDir(dir)
					b, err := os.ReadFile(filepath.Join(dir, "index.json"))
					if len(entries) != 1 || err != nil || string(b) != content {
						t.Errorf("capslayer %s changed its input directory: %d entries, index.json %q, %v", strings.Join(args, " "), len(entries), b, err)
					}
				}
			}
		}
	}
	if covered < 20 {
		t.Errorf("only %d output/input pairs covered", covered)
	}
}

// TestOutputDirHoldingAnInput: writing a layout replaces its directory
// whole, so an input inside it is refused.
func TestOutputDirHoldingAnInput(t *testing.T) {
	out := t.TempDir()
	layer := filepath.Join(out, "blobs", "layer.tar")
	if err := os.MkdirAll(filepath.Dir(layer), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(layer, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runTimed(t, 10*time.Second, "image", "--layer", layer, "--output", out)
	if code != 2 || !regexp.MustCompile(`output directory --output ".*" holds the input --layer`).MatchString(stderr) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestTwoOutputsOneFile: two outputs given the same existing file.
func TestTwoOutputsOneFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runTimed(t, 10*time.Second, "image", "--layer", "x.tar", "--output", t.TempDir(), "--tarball", f, "--tag", "a:b", "--digest-file", f)
	if code != 2 || !strings.Contains(stderr, "are the same file") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
