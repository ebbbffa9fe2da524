package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version and commit say what capslayer was built from. Release builds
// (tools/release/build.sh) set both with
// -ldflags "-X main.version=... -X main.commit=..."; the Bazel build sets
// version to the module version of rules_capslayer (x_defs in BUILD.bazel),
// and commit with --stamp when the workspace status prints STABLE_GIT_COMMIT.
// A plain `go build` or `go install` in a git checkout sets neither, but
// the Go toolchain embeds the commit (vcs.revision) and whether the tree
// was modified: capslayer reports those. Otherwise it prints these fixed
// defaults, so two Bazel builds of the same source give the same bytes.
var (
	version = "0.0.0-dev"
	commit  = "unknown"
)

// versionText is what `capslayer version` prints; bi is the binary's
// embedded build information (nil when there is none).
func versionText(bi *debug.BuildInfo) string {
	v, c := version, commit
	if bi != nil && c == "unknown" {
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && c != "unknown" {
			c += ", modified"
		}
		if mv := bi.Main.Version; v == "0.0.0-dev" && mv != "" && mv != "(devel)" {
			v = strings.TrimPrefix(mv, "v")
		}
	}
	return fmt.Sprintf("capslayer %s (commit %s)\n", v, c)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Print the module version of rules_capslayer and the commit this capslayer was built from.", stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("version takes no arguments")
	}
	bi, _ := debug.ReadBuildInfo()
	_, err := io.WriteString(stdout, versionText(bi))
	return err
}
