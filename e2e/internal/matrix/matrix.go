// Package matrix records what the engine tests observe and renders it into
// docs/runtime-matrix.md, one section per engine and version.
//
// A test records one Observation per case (the engine, its version, the
// case, the capability sets of the process the engine started and what
// happened). At the end of the test binary, Finish writes the observations
// as JSON into $CAPSLAYER_E2E_OBSERVATIONS or, under `bazel test`, into
// $TEST_UNDECLARED_OUTPUTS_DIR, renders a section per engine and version,
// and compares each with the committed section of docs/runtime-matrix.md:
// a difference (or a missing section) fails the test binary and prints the
// command that rewrites the section (the test flag -update-matrix).
//
// Only a complete run is compared: with -run (or Bazel's --test_filter), a
// skipped prerequisite or a failed test, the sections are not checked, since
// they would lack cases.
package matrix

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Observation is what one case of an engine test saw.
type Observation struct {
	// Engine names the engine and how it was driven, e.g. "docker",
	// "containerd CRI", "podman rootless".
	Engine string `json:"engine"`
	// Version is the engine's version, e.g. "20.10.24".
	Version string `json:"version"`
	// Runtime is the OCI runtime and its version, e.g. "runc 1.1.5".
	Runtime string `json:"runtime"`
	// Environment is the distribution the engine came from
	// (/etc/os-release's PRETTY_NAME); Record fills it in.
	Environment string `json:"environment"`
	// Case says what was run, e.g. "=ep; --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000".
	Case string `json:"case"`
	// Sets are the process's capability sets as the kernel prints them
	// (CapPrm, CapEff, CapAmb as short hex) and NoNewPrivs; empty when the
	// process never ran.
	CapPrm     string `json:"cap_prm,omitempty"`
	CapEff     string `json:"cap_eff,omitempty"`
	CapAmb     string `json:"cap_amb,omitempty"`
	NoNewPrivs string `json:"no_new_privs,omitempty"`
	// Result is the outcome, e.g. "binds :80", "bind: permission denied",
	// "exec fails: operation not permitted".
	Result string `json:"result"`
}

// Key identifies the section an observation belongs to.
func (o Observation) Key() string { return o.Engine + " " + o.Version }

var (
	mu       sync.Mutex
	observed []Observation
	// incomplete is set when a case was skipped or the run was filtered.
	incomplete []string

	update = flag.Bool("update-matrix", false, "rewrite this engine's sections of docs/runtime-matrix.md from this run's observations")
)

// Record adds an observation. A case recorded twice keeps the last one.
func Record(o Observation) {
	if o.Environment == "" {
		o.Environment = environment()
	}
	mu.Lock()
	defer mu.Unlock()
	for i, p := range observed {
		if p.Key() == o.Key() && p.Case == o.Case {
			observed[i] = o
			return
		}
	}
	observed = append(observed, o)
}

// Incomplete marks the run as not covering every case (a skipped
// prerequisite), so Finish does not compare sections.
func Incomplete(why string) {
	mu.Lock()
	defer mu.Unlock()
	incomplete = append(incomplete, why)
}

// environment is PRETTY_NAME of /etc/os-release, e.g. "Debian GNU/Linux 12
// (bookworm)", or "unknown".
func environment() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "unknown"
}

// Observations returns a copy of what was recorded so far.
func Observations() []Observation {
	mu.Lock()
	defer mu.Unlock()
	return append([]Observation(nil), observed...)
}

// Hex formats a capability mask the short way the matrix prints it.
func Hex(m uint64) string { return fmt.Sprintf("%x", m) }

// Doc is the path of the matrix page relative to the module root.
const Doc = "docs/runtime-matrix.md"

// Finish is called by the test binary's TestMain after m.Run with its exit
// code; it returns the code to exit with. See the package comment.
func Finish(code int, docPath func() (string, error), writableDoc func() (string, error)) int {
	obs := Observations()
	if len(obs) == 0 {
		return code
	}
	if err := writeObservations(obs); err != nil {
		fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
		return 1
	}
	var why []string
	if code != 0 {
		why = append(why, "a test failed")
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		why = append(why, "-run "+f.Value.String())
	}
	if v := os.Getenv("TESTBRIDGE_TEST_ONLY"); v != "" {
		why = append(why, "--test_filter "+v)
	}
	mu.Lock()
	why = append(why, incomplete...)
	mu.Unlock()
	if len(why) > 0 {
		fmt.Fprintf(os.Stderr, "matrix: not comparing %s with this run (incomplete: %s)\n", Doc, strings.Join(why, "; "))
		return code
	}
	sections := Render(obs)
	if *update {
		p, err := writableDoc()
		if err != nil {
			fmt.Fprintf(os.Stderr, "matrix: -update-matrix: %v\n", err)
			return 1
		}
		old, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
			return 1
		}
		text, err := Splice(string(old), sections)
		if err != nil {
			fmt.Fprintf(os.Stderr, "matrix: %s: %v\n", p, err)
			return 1
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "matrix: updated %d section(s) of %s\n", len(sections), p)
		return code
	}
	p, err := docPath()
	if err != nil {
		fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
		return 1
	}
	committed, err := os.ReadFile(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
		return 1
	}
	have, err := Sections(string(committed))
	if err != nil {
		fmt.Fprintf(os.Stderr, "matrix: %s: %v\n", Doc, err)
		return 1
	}
	failed := false
	for _, s := range sections {
		if got, ok := have[s.Key]; !ok || got != s.Body {
			failed = true
			fmt.Fprintf(os.Stderr, "matrix: the section %q of %s differs from what this run observed.\n--- committed\n%s--- observed\n%s",
				s.Key, Doc, have[s.Key], s.Body)
		}
	}
	if failed {
		fmt.Fprintf(os.Stderr, "matrix: if the new observations are right, update the page and commit it:\n"+
			"  go test ./e2e/<engine> -args -update-matrix                    (host engines)\n"+
			"  tools/bazel run //e2e/<engine>:<engine>_test -- -update-matrix (offline environment's engines)\n")
		return 1
	}
	return code
}

func writeObservations(obs []Observation) error {
	dir := os.Getenv("CAPSLAYER_E2E_OBSERVATIONS")
	if dir == "" {
		dir = os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR")
	}
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(obs, "", "  ")
	if err != nil {
		return err
	}
	name := "observations-" + strings.NewReplacer(" ", "-", "/", "-").Replace(obs[0].Key()) + ".json"
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// Section is the generated text of one engine and version.
type Section struct {
	Key  string
	Body string
}

const (
	beginMark = "<!-- matrix begin: "
	endMark   = "<!-- matrix end: "
	markClose = " -->\n"
)

// Render turns observations into one section per engine and version, in
// the order the cases were recorded.
func Render(obs []Observation) []Section {
	var keys []string
	byKey := map[string][]Observation{}
	for _, o := range obs {
		if _, ok := byKey[o.Key()]; !ok {
			keys = append(keys, o.Key())
		}
		byKey[o.Key()] = append(byKey[o.Key()], o)
	}
	var out []Section
	for _, k := range keys {
		rows := byKey[k]
		var b bytes.Buffer
		seen := map[string]bool{}
		var rs []string
		for _, o := range rows {
			for _, v := range []string{o.Runtime, o.Environment} {
				if v != "" && !seen[v] {
					seen[v] = true
					rs = append(rs, v)
				}
			}
		}
		fmt.Fprintf(&b, "### %s", k)
		if len(rs) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(rs, "; "))
		}
		fmt.Fprintf(&b, "\n\n| case | CapPrm | CapEff | CapAmb | NoNewPrivs | result |\n|---|---|---|---|---|---|\n")
		for _, o := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(o.Case), dash(o.CapPrm), dash(o.CapEff), dash(o.CapAmb), dash(o.NoNewPrivs), cell(o.Result))
		}
		out = append(out, Section{Key: k, Body: b.String()})
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Sections returns the generated sections of a matrix page by key.
func Sections(doc string) (map[string]string, error) {
	out := map[string]string{}
	rest := doc
	for {
		i := strings.Index(rest, beginMark)
		if i < 0 {
			return out, nil
		}
		rest = rest[i+len(beginMark):]
		key, after, ok := strings.Cut(rest, markClose)
		if !ok {
			return nil, fmt.Errorf("unterminated marker %q", beginMark+key)
		}
		end := endMark + key + markClose
		j := strings.Index(after, end)
		if j < 0 {
			return nil, fmt.Errorf("no %q after the section %q", strings.TrimSpace(end), key)
		}
		out[key] = after[:j]
		rest = after[j+len(end):]
	}
}

// Splice replaces the sections of doc with the same keys, or adds them,
// sorted by key, before the line "<!-- matrix sections end -->".
func Splice(doc string, sections []Section) (string, error) {
	have, err := Sections(doc)
	if err != nil {
		return "", err
	}
	for _, s := range sections {
		begin := beginMark + s.Key + markClose
		end := endMark + s.Key + markClose
		if _, ok := have[s.Key]; ok {
			i := strings.Index(doc, begin) + len(begin)
			j := i + strings.Index(doc[i:], end)
			doc = doc[:i] + s.Body + doc[j:]
			continue
		}
		// Insert before the first section with a greater key, else
		// before the end line.
		const tail = "<!-- matrix sections end -->\n"
		at := strings.Index(doc, tail)
		if at < 0 {
			return "", fmt.Errorf("no line %q to add the section %q before", strings.TrimSpace(tail), s.Key)
		}
		keys := make([]string, 0, len(have))
		for k := range have {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k > s.Key {
				at = strings.Index(doc, beginMark+k+markClose)
				break
			}
		}
		doc = doc[:at] + begin + s.Body + end + "\n" + doc[at:]
		have[s.Key] = s.Body
	}
	return doc, nil
}
