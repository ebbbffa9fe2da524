package harness

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/e2e/internal/matrix"
)

// Binary describes a program under test: how Bazel passes it in, and which
// package of this module `go build` makes it from otherwise.
type Binary struct {
	// Env names the environment variable that holds its runfiles path under
	// Bazel (set with $(rootpath ...) in the test's BUILD env).
	Env string
	// Package is the Go package path relative to the module root.
	Package string
}

var (
	// Capslayer is the capslayer tool.
	Capslayer = Binary{Env: "CAPSLAYER_BIN", Package: "./capslayer"}
	// Server is the example HTTP server that wants port 80.
	Server = Binary{Env: "SERVER_BIN", Package: "./examples/server"}
)

const modulePath = "github.com/capslayer/rules_capslayer"

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// sbinDirs hold runc, setcap and ip on Debian; Bazel's strict test
// environment (PATH=/bin:/usr/bin:/usr/local/bin) leaves them out.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// Main runs the tests of a package and removes the binaries built for them.
// Call it from TestMain: os.Exit(harness.Main(m)). It first appends the sbin
// directories to PATH when they are missing.
func Main(m *testing.M) int {
	path := os.Getenv("PATH")
	have := map[string]bool{}
	for _, d := range filepath.SplitList(path) {
		have[d] = true
	}
	for _, d := range sbinDirs {
		if !have[d] {
			path += string(filepath.ListSeparator) + d
		}
	}
	os.Setenv("PATH", path)
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return matrix.Finish(code, matrixDoc, writableMatrixDoc)
}

// matrixDoc finds docs/runtime-matrix.md: in the runfiles under Bazel (the
// test's data), else in the module's source tree.
func matrixDoc() (string, error) {
	if os.Getenv("TEST_SRCDIR") != "" || os.Getenv("RUNFILES_DIR") != "" {
		return resolveRunfile(matrix.Doc)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, matrix.Doc), nil
}

// writableMatrixDoc is the page in the source tree: the workspace under
// `bazel run`, else the module root above the working directory.
func writableMatrixDoc() (string, error) {
	if ws := os.Getenv("BUILD_WORKSPACE_DIRECTORY"); ws != "" {
		return filepath.Join(ws, matrix.Doc), nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%w (under Bazel, use tools/bazel run)", err)
	}
	return filepath.Join(root, matrix.Doc), nil
}

// Path returns the absolute path of the binary: from its environment
// variable when set (resolved against the runfiles directory), else built
// from source, statically (CGO_ENABLED=0), once per test process.
func (b Binary) Path(t testing.TB) string {
	t.Helper()
	if v := os.Getenv(b.Env); v != "" {
		p, err := resolveRunfile(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", b.Env, v, err)
		}
		return p
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[b.Package]; ok {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		skipOrFail(t, "%s is not set and the module source is not reachable to build %s: %v", b.Env, b.Package, err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		skipOrFail(t, "%s is not set and there is no go tool to build %s", b.Env, b.Package)
	}
	if buildDir == "" {
		if buildDir, err = os.MkdirTemp("", "capslayer-e2e-bin-"); err != nil {
			t.Fatal(err)
		}
		// uid 1000 must be able to read binaries the tests copy from here.
		if err := os.Chmod(buildDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(buildDir, filepath.Base(b.Package))
	start := time.Now()
	// Building is a fixture step, not a command under test: it gets more
	// than DefaultTimeout because a cold build cache on a busy machine is
	// slow.
	r := Run(t, Cmd{
		Args:    []string{"go", "build", "-trimpath", "-o", out, b.Package},
		Env:     []string{"CGO_ENABLED=0"},
		Dir:     root,
		Timeout: 5 * time.Minute,
	})
	if r.ExitCode != 0 {
		t.Fatalf("building %s (set %s to use a prebuilt binary):\n%s", b.Package, b.Env, r)
	}
	t.Logf("built %s in %v", b.Package, time.Since(start).Round(time.Millisecond))
	built[b.Package] = out
	return out
}

// resolveRunfile turns a $(rootpath)/$(rlocationpath) value into an
// absolute path: as is when absolute, else the first existing one of the
// runfiles tree candidates and the working directory (a Bazel test runs in
// its workspace's runfiles directory).
func resolveRunfile(p string) (string, error) {
	if filepath.IsAbs(p) {
		return p, statFile(p)
	}
	var cands []string
	for _, dir := range []string{os.Getenv("RUNFILES_DIR"), os.Getenv("TEST_SRCDIR")} {
		if dir == "" {
			continue
		}
		cands = append(cands, filepath.Join(dir, p))
		for _, ws := range []string{os.Getenv("TEST_WORKSPACE"), "_main"} {
			if ws != "" {
				cands = append(cands, filepath.Join(dir, ws, p))
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		cands = append(cands, filepath.Join(wd, p))
	}
	for _, c := range cands {
		if statFile(c) == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("not found in the runfiles (tried %s); add the target to the test's data", strings.Join(cands, ", "))
}

func statFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}

// moduleRoot finds the directory of this module's go.mod by walking up
// from the working directory (go test runs in the package directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+modulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// RequireStatic fails the test unless the ELF file at path has no program
// interpreter: the images are FROM scratch, so a dynamically linked binary
// would fail with "no such file or directory" for its loader.
func RequireStatic(t testing.TB, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; the scratch images need a static binary (CGO_ENABLED=0, or pure = \"on\" in go_binary)", path)
		}
	}
}

// WorldDir returns a new temporary directory, removed at the end of the
// test, that uid 1000 can traverse: the unprivileged server must reach
// binaries extracted below it. It is under $TMPDIR when every directory
// above that lets others through, else under /tmp (Bazel's TMPDIR lies
// below root's 0700 home directory).
func WorldDir(t testing.TB) string {
	t.Helper()
	base := os.TempDir()
	if !othersCanTraverse(base) {
		base = "/tmp"
		if !othersCanTraverse(base) {
			skipOrFail(t, "neither $TMPDIR (%s) nor /tmp can be traversed by uid 1000", os.TempDir())
		}
	}
	d, err := os.MkdirTemp(base, "capslayer-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("removing the test directory: %v", err)
		}
	})
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// othersCanTraverse reports whether dir and every directory above it have
// the execute bit for others.
func othersCanTraverse(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}
