package caps

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// TestDocTable checks the reference table of docs/capability-syntax.md:
// every row's input must parse to the canonical text and value shown. The
// path is the same under go test and bazel test (the doc is in the test's
// data, and the test runs in its package's runfiles directory).
func TestDocTable(t *testing.T) {
	const doc = "../../docs/capability-syntax.md"
	file, err := os.Open(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	rows := 0
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		// | `input` | `canonical` | `hex` |
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[3]), "`") {
			continue
		}
		unquote := func(c string) string { return strings.Trim(strings.TrimSpace(c), "`") }
		in, canonical, value := unquote(cells[1]), unquote(cells[2]), unquote(cells[3])
		if _, err := hex.DecodeString(value); err != nil {
			continue
		}
		rows++
		f, err := Parse(in)
		if err != nil {
			t.Errorf("%s: Parse(%q): %v", doc, in, err)
			continue
		}
		if f.String() != canonical || hex.EncodeToString(f.EncodeV2()) != value {
			t.Errorf("%s: %q gives %q %x, the table says %q %s", doc, in, f, f.EncodeV2(), canonical, value)
		}
	}
	if rows < 20 {
		t.Errorf("found only %d rows in the reference table of %s", rows, doc)
	}
}
