package main

// The command-line framework every subcommand uses: one flag set type with
// one parser (flags before, between and after the positional arguments;
// a single-value flag given twice is an error), one repeatable flag type,
// one --rootid flag and one usage renderer.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/internal/abbrev"
	"github.com/capslayer/rules_capslayer/capslayer/internal/suggest"
)

// cmdFlags is the flag set of one subcommand. Define flags with the
// embedded flag.FlagSet's methods (String, Bool, Var, ...), a repeatable
// flag with Var(&listFlag...), then call parse.
type cmdFlags struct {
	*flag.FlagSet
	name     string // "encode", "image index"
	synopsis string // what follows "Usage: capslayer NAME "; more lines may follow
	help     string // the text after the synopsis; "" prints the command's summary
	args     []string
	set      map[string]bool
	// paths are the flags naming files and directories (cli_paths.go);
	// argsAreText says the positional arguments are not paths.
	paths       []*pathFlag
	argsAreText bool
}

// newFlagSet returns the flag set of subcommand name, whose usage is
// "Usage: capslayer NAME SYNOPSIS", then help (or the command's summary
// when help is ""), then the flags.
func newFlagSet(name, synopsis, help string, stderr io.Writer) *cmdFlags {
	c := &cmdFlags{
		FlagSet:  flag.NewFlagSet("capslayer "+name, flag.ContinueOnError),
		name:     name,
		synopsis: synopsis,
		help:     help,
	}
	c.SetOutput(stderr)
	c.Usage = c.printUsage
	flagSetCreated(c)
	return c
}

// flagSetCreated sees every flag set made; the tests that cover every
// flag of every command collect them through it.
var flagSetCreated = func(*cmdFlags) {}

// printUsage is the one usage renderer of capslayer.
func (c *cmdFlags) printUsage() {
	w := c.Output()
	fmt.Fprintf(w, "Usage: capslayer %s %s\n\n", c.name, c.synopsis)
	help := strings.TrimSpace(c.help)
	if help == "" {
		cmd, _, _ := strings.Cut(c.name, " ")
		help = strings.TrimSpace(commands[cmd].summary) + "."
	}
	fmt.Fprintf(w, "%s\n", help)
	var hasFlags bool
	c.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		var b strings.Builder
		c.SetOutput(&b)
		c.PrintDefaults()
		c.SetOutput(w)
		// The flag package lists "-name"; capslayer's docs and examples
		// write "--name", which parse accepts as well.
		fmt.Fprint(w, flagLine.ReplaceAllString(b.String(), "$1--"))
	}
}

// flagLine matches the start of a flag's line in flag.PrintDefaults.
var flagLine = regexp.MustCompile(`(?m)^(  )-`)

// unknownFlag is the error for arg, which names no flag: with the flag it
// most likely meant, or how to pass an argument that starts with '-'.
func (c *cmdFlags) unknownFlag(arg, name string) error {
	var names []string
	c.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s, ok := suggest.Closest(name, names); ok {
		return c.usageErr("unknown flag %s: did you mean --%s?", abbrev.Quote(arg), s)
	}
	return c.usageErr("unknown flag %s; put -- before an argument that starts with '-'", abbrev.Quote(arg))
}

// errHelp is returned by parse when -h or --help was given; the usage has
// been printed and capslayer exits 0.
var errHelp = flag.ErrHelp

// repeatable marks a flag.Value that may be given more than once.
type repeatable interface {
	flag.Value
	repeatable()
}

// boolFlag is the interface of the flag package's boolean flags.
type boolFlag interface {
	flag.Value
	IsBoolFlag() bool
}

// parse parses args: flags may come before, between and after the
// positional arguments ("inspect x.tar --json"); "--" ends the flags, and
// "-" alone is a positional argument. Flags are written -name or --name,
// with the value after '=' or as the next argument (booleans only after
// '='). A flag that is not repeatable may be given once: a second use is
// an error rather than silently replacing the first. Errors are usage
// errors naming the flag; long values are abbreviated.
func (c *cmdFlags) parse(args []string) error {
	c.args, c.set = nil, map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			c.args = append(c.args, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			c.args = append(c.args, a)
			continue
		}
		name := strings.TrimPrefix(a[1:], "-")
		name, value, hasValue := strings.Cut(name, "=")
		if name == "h" || name == "help" {
			c.Usage()
			return errHelp
		}
		f := c.Lookup(name)
		if f == nil || name == "" || name[0] == '-' {
			return c.unknownFlag(a, name)
		}
		if bf, ok := f.Value.(boolFlag); ok && bf.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				return c.usageErr("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if _, ok := f.Value.(repeatable); !ok && c.set[name] {
			return c.usageErr("--%s given twice: give it once (only flags marked repeatable may be repeated)", name)
		}
		if err := c.Set(name, value); err != nil {
			return c.usageErr("--%s %s: %v", name, abbrev.Quote(value), err)
		}
		c.set[name] = true
	}
	return c.checkPaths()
}

func (c *cmdFlags) usageErr(format string, args ...any) error {
	return usagef("%s (see 'capslayer %s --help')", fmt.Sprintf(format, args...), c.name)
}

// Args returns the positional arguments.
func (c *cmdFlags) Args() []string { return c.args }

// NArg returns the number of positional arguments.
func (c *cmdFlags) NArg() int { return len(c.args) }

// Arg returns the i'th positional argument, or "".
func (c *cmdFlags) Arg(i int) string {
	if i < 0 || i >= len(c.args) {
		return ""
	}
	return c.args[i]
}

// isSet reports whether flag name was given.
func (c *cmdFlags) isSet(name string) bool { return c.set[name] }

// listFlag is the one repeatable flag type: every use is parsed by parse
// (nil: kept as given) and appended, in order.
type listFlag[T any] struct {
	parse  func(string) (T, error)
	values []T
	texts  []string
}

// stringList is a repeatable flag of plain strings.
type stringList = listFlag[string]

func (f *listFlag[T]) repeatable() {}

func (f *listFlag[T]) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(f.texts, " ")
}

func (f *listFlag[T]) Set(s string) error {
	var v T
	if f.parse != nil {
		var err error
		if v, err = f.parse(s); err != nil {
			return err
		}
	} else if sv, ok := any(s).(T); ok {
		v = sv
	} else {
		return fmt.Errorf("listFlag[%T] needs a parse function", v)
	}
	f.values = append(f.values, v)
	f.texts = append(f.texts, s)
	return nil
}

// rootIDFlag is --rootid: a host uid from 1 to 4294967294, as setcap -n
// takes (0 means no namespace, i.e. revision 2; 4294967295 is the invalid
// uid). Its value is 0 when the flag is not given.
type rootIDFlag uint32

// rootIDUsage is the help text of every --rootid flag.
const rootIDUsage = "write revision 3 capabilities limited to the user namespace whose root is host `uid` N, as setcap -n N (not portable: the kernel ignores them elsewhere)"

func (r *rootIDFlag) String() string {
	if r == nil || *r == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(*r), 10)
}

func (r *rootIDFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n == 1<<32-1 {
		return errors.New("want a host uid from 1 to 4294967294, as setcap -n takes; leave --rootid out for capabilities that work in every user namespace")
	}
	*r = rootIDFlag(n)
	return nil
}

// hintStyles are the values of --hint-style: whose words say how to fix an
// error or a finding. The libraries name no flag; hints.go says what
// fixes their errors and audit's findings in the style asked for.
var hintStyles = []string{"cli", "bazel"}

// hintStyleFlag is --hint-style: "cli" (this tool's flags, the default) or
// "bazel" (the attributes of the rule that runs the command, which passes
// it).
type hintStyleFlag string

func (h *hintStyleFlag) String() string {
	if h == nil || *h == "" {
		return "cli"
	}
	return string(*h)
}

func (h *hintStyleFlag) Set(s string) error {
	if !slices.Contains(hintStyles, s) {
		return fmt.Errorf("want one of %s", strings.Join(hintStyles, ", "))
	}
	*h = hintStyleFlag(s)
	return nil
}

// bazel reports whether fixes are to be said in a Bazel rule's attributes.
func (h *hintStyleFlag) bazel() bool { return h != nil && *h == "bazel" }

// hintStyle defines --hint-style for a command that rule (e.g.
// "caps_image") runs.
func (c *cmdFlags) hintStyle(rule string) *hintStyleFlag {
	h := hintStyleFlag("cli")
	c.Var(&h, "hint-style", "say how to fix an error in the words of `style`: cli (flags) or bazel (the attributes of "+rule+", which passes it)")
	return &h
}
