package main

import (
	"fmt"
	"io"
)

// version and commit say what capslayer was built from. Release builds
// (tools/release/build.sh) set both with
// -ldflags "-X main.version=... -X main.commit=..."; the Bazel build sets
// version to the module version of rules_capslayer (x_defs in BUILD.bazel),
// and commit with --stamp when the workspace status prints STABLE_GIT_COMMIT.
// Unstamped builds print these fixed defaults, so two builds of the same
// source give the same bytes.
var (
	version = "0.0.0-dev"
	commit  = "unknown"
)

// versionText is what `capslayer version` prints.
func versionText() string {
	return fmt.Sprintf("capslayer %s (commit %s)\n", version, commit)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Print the module version of rules_capslayer and the commit this capslayer was built from.", stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("version takes no arguments")
	}
	_, err := io.WriteString(stdout, versionText())
	return err
}
