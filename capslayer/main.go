// Command capslayer writes deterministic OCI layer tars whose files carry Linux
// file capabilities (the security.capability extended attribute that setcap
// sets), and inspects, audits and assembles images that contain them.
//
// The binary is a thin layer over the packages below it: caps parses and
// encodes capability text, layer writes tars, source (over inspect and
// registry) reads layers and images with their metadata verified,
// image assembles images, policy checks capabilities against allowlists.
//
// Exit status: 0 on success, 1 when a check failed (audit, policy), 2 on bad
// usage or bad input.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/abbrev"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/suggest"
)

// command is one subcommand of capslayer.
type command struct {
	summary string
	// run executes the subcommand with its arguments (without the
	// subcommand name). It returns a usageError for bad usage, a
	// checkFailedError when a check did not pass, and any other error for
	// bad input or I/O failures.
	run func(args []string, stdout, stderr io.Writer) error
}

// commands is filled in init, because the subcommands refer to it for their
// usage text.
var commands map[string]command

func init() {
	commands = map[string]command{
		"encode":           {"print the security.capability xattr value for a capability text, as hex", runEncode},
		"decode":           {"print the canonical text (as getcap prints it) of a security.capability value given as hex", runDecode},
		"layer":            {"write a deterministic OCI layer tar whose files carry file capabilities", runLayer},
		"describe":         {"write the OCI descriptor (digest, diff_id, files' capabilities) of a layer tar", runDescribe},
		"labels":           {"write the io.capslayer.capabilities label of an image other tools assemble, as key=value for rules_oci's oci_image(labels = ...)", runLabels},
		"inspect":          {"list the files that carry capabilities in a layer tar, OCI layout or docker save tarball", runInspect},
		"image":            {"assemble a reproducible OCI image (layout and optional docker/podman tarball) from layers", runImage},
		"audit":            {"check every file capability in an image or layer against a policy", runAudit},
		"requirements":     {"print the docker/podman flags and Kubernetes securityContext an image or layer needs", runRequirements},
		"push":             {"push an OCI image layout to a registry, byte for byte", runPush},
		"admission-policy": {"write a Kubernetes ValidatingAdmissionPolicy that admits an image only with the capabilities its files carry", runAdmissionPolicy},
		"version":          {"print the module version and the commit capslayer was built from", runVersion},
	}
}

// usageError reports bad usage; it makes capslayer exit with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// checkFailedError reports a check that ran and did not pass (a policy
// violation); it makes capslayer exit with status 1. Its message has already
// been printed when it is non-empty.
type checkFailedError struct{ msg string }

func (e *checkFailedError) Error() string { return e.msg }

func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: capslayer <command> [flags] [arguments]\n\nCommands:\n")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'capslayer <command> --help' for the flags of a command.\n")
}

// commandNames returns the names of the commands, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// run is main without os.Exit, for tests. It returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	switch args[0] {
	case "help":
		if len(args) == 1 {
			mainUsage(stdout)
			return 0
		}
		// "capslayer help CMD [SUB]" is "capslayer CMD [SUB] --help".
		args = append(slices.Clone(args[1:]), "--help")
	case "-h", "-help", "--help":
		mainUsage(stdout)
		return 0
	case "--version", "-version":
		args = []string{"version"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "capslayer: unknown command %s", abbrev.Quote(args[0]))
		if s, ok := suggest.Closest(args[0], commandNames()); ok {
			fmt.Fprintf(stderr, ": did you mean %s?", s)
		}
		fmt.Fprintf(stderr, "\n\n")
		mainUsage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	var ue *usageError
	var cf *checkFailedError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &cf):
		if cf.msg != "" {
			printError(stderr, args, cf.msg)
		}
		return 1
	case errors.As(err, &ue):
		printError(stderr, args, ue.msg)
		return 2
	default:
		// The library's "package: " prefix is dropped where the package is
		// named like the command ("capslayer inspect: stat x", not
		// "capslayer inspect: inspect: stat x").
		printError(stderr, args, strings.TrimPrefix(err.Error(), args[0]+": "))
		return 2
	}
}

// printError prints the one line of an error message. The message can hold
// what an input or a registry supplied (a file name, an error body), so
// every rune that is not printable is escaped (printable.Text): a newline,
// a carriage return or an escape sequence cannot forge or erase a line of
// the log.
func printError(stderr io.Writer, args []string, msg string) {
	fmt.Fprintf(stderr, "capslayer %s: %s\n", args[0], printable.Text(shorten(msg, args)))
}

// printWarning prints a warning of command cmd, escaped as printError does.
func printWarning(stderr io.Writer, cmd string, w any) {
	fmt.Fprintf(stderr, "capslayer %s: warning: %s\n", cmd, printable.Text(fmt.Sprint(w)))
}

// maxMessage bounds an error message printed by capslayer, in bytes.
const maxMessage = 4096

// shorten keeps an error message from echoing a long argument whole: every
// argument (or the value after '=' in one) longer than abbrev.Max is
// replaced by its abbreviation, and what is still longer than maxMessage
// is cut. The places that quote values abbreviate them already; this
// catches the rest.
func shorten(msg string, args []string) string {
	for _, a := range args {
		for _, v := range []string{a, a[strings.IndexByte(a, '=')+1:]} {
			if abbrev.Long(v) {
				msg = strings.ReplaceAll(msg, strconv.Quote(v), abbrev.Quote(v))
				msg = strings.ReplaceAll(msg, v, abbrev.Quote(v))
			}
		}
	}
	if len(msg) > maxMessage {
		msg = fmt.Sprintf("%s... (message of %d bytes cut)", strings.ToValidUTF8(msg[:maxMessage], ""), len(msg))
	}
	return msg
}

func main() {
	atomicfile.HandleSignals() // a killed run leaves no temporary output
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
