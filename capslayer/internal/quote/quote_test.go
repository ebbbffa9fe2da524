package quote_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote/quotetest"
)

// TestCommandRoundTrip splits every quoted corpus name back with a real sh:
// each stays one argument, equal to itself, and none runs a command.
func TestCommandRoundTrip(t *testing.T) {
	for _, name := range quotetest.Names {
		argv := []string{"docker", "run", "--user", name, name}
		line, err := quote.Command(argv...)
		if !printable.Safe(name) {
			if !errors.Is(err, quote.ErrUnprintable) {
				t.Errorf("Command(%q) = %q, %v; want ErrUnprintable", name, line, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Command(%q): %v", name, err)
		}
		if !printable.Safe(line) || strings.Contains(line, `\`) != strings.Contains(name, `\`) {
			t.Errorf("Command(%q) = %q: not printable, or a backslash of its own", name, line)
		}
		if got := quotetest.SplitShell(t, line); !reflect.DeepEqual(got, argv) {
			t.Errorf("sh splits %s into %q, want %q", line, got, argv)
		}
	}
}

func TestShellUnquoted(t *testing.T) {
	for _, s := range []string{"docker", "--cap-drop", "ALL", "1000:1000", "example.com/app@sha256:0123", "a,b+c%d"} {
		if got, err := quote.Shell(s); got != s || err != nil {
			t.Errorf("Shell(%q) = %q, %v; want it unquoted", s, got, err)
		}
	}
	for _, s := range []string{"", "a b", "~x", "#x", "a=b", "x*"} {
		if got, _ := quote.Shell(s); got == s {
			t.Errorf("Shell(%q) left it unquoted", s)
		}
	}
}

// TestCELRoundTrip parses every quoted corpus name with cel-go and
// evaluates it back.
func TestCELRoundTrip(t *testing.T) {
	env, err := cel.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range quotetest.Names {
		lit := quote.CEL(name)
		if !printable.Safe(lit) {
			t.Errorf("CEL(%q) = %s: not printable", name, lit)
		}
		// The literal must be one string: compare it inside an expression.
		ast, iss := env.Compile(lit + ` + "!"`)
		if iss.Err() != nil {
			t.Errorf("CEL(%q) = %s: %v", name, lit, iss.Err())
			continue
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := prg.Eval(map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ToValidUTF8(name, "\uFFFD") + "!"
		if got := v.Value(); got != want {
			t.Errorf("CEL(%q) = %s evaluates to %q", name, lit, got)
		}
	}
}

// TestYAMLRoundTrip encodes the corpus as keys, values, a list and comment
// lines, and parses the document back.
func TestYAMLRoundTrip(t *testing.T) {
	type doc struct {
		Names []string          `yaml:"names"`
		ByKey map[string]string `yaml:"byKey"`
	}
	in := doc{ByKey: map[string]string{}}
	for _, name := range quotetest.Names {
		if !utf8.ValidString(name) {
			continue // yaml.v3 writes it as !!binary; checked below
		}
		in.Names = append(in.Names, name)
		in.ByKey["k"+name] = name
	}
	b, err := quote.YAML(in, quotetest.Names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if !printable.Safe(line) {
			t.Errorf("YAML line not printable: %q", line)
		}
	}
	var out doc
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if err := n.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("YAML round trip:\n got %q\nwant %q\n%s", out, in, b)
	}
	// The comment is only the comment, one line per corpus name, on the
	// document's first key (where yaml.v3 puts a head comment it parses).
	var want []string
	for _, name := range quotetest.Names {
		want = append(want, strings.TrimSuffix("# "+printable.Text(name), " "))
	}
	if got := n.Content[0].Content[0].HeadComment; got != strings.Join(want, "\n") {
		t.Errorf("head comment:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestJSONRoundTrip(t *testing.T) {
	b, err := quote.JSON(quotetest.Names)
	if err != nil {
		t.Fatal(err)
	}
	if !printable.Safe(strings.ReplaceAll(string(b), "\n", "")) {
		t.Errorf("JSON not printable: %s", b)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i, name := range quotetest.Names {
		if want := strings.ToValidUTF8(name, "\uFFFD"); out[i] != want {
			t.Errorf("JSON round trip of %q: %q", want, out[i])
		}
	}
}

func TestJSONSurrogates(t *testing.T) {
	b, err := quote.JSON("\U000E0001") // a format character beyond the BMP
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != `"\udb40\udc01"` {
		t.Errorf("JSON = %s", got)
	}
}
