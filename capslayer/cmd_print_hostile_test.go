package main

// The hostile-name corpus (internal/quote/quotetest) through every printer of
// the CLI: audit's fix hints, requirements' text, JSON and YAML,
// admission-policy's YAML and CEL, inspect's table and JSON, and the error
// line. Each output is parsed back (a real sh, encoding/json, a YAML parser,
// the k8s.io/api types) to the values it was built from, and every line of
// it must be printable: no name may add a line, run a command, become a
// flag or repaint the terminal.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/quote/quotetest"
	"github.com/capslayer/rules_capslayer/capslayer/policy"
	"github.com/capslayer/rules_capslayer/capslayer/requirements"
)

// hostileLayer writes a layer whose files are named by the corpus, each
// carrying caps, and returns it with the path inside the image of each
// name's file (in corpus order; "" for a name that names no file).
func hostileLayer(t *testing.T, file, capText string) (string, []string) {
	t.Helper()
	fc, err := caps.Parse(capText)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	paths := make([]string, len(quotetest.Names))
	for i, name := range quotetest.Names {
		// One directory per name keeps the files apart whatever the name
		// holds ("", "/app/server", "-").
		p := path.Clean(fmt.Sprintf("/h%02d/%s", i, name))
		if p == fmt.Sprintf("/h%02d", i) {
			continue // "" names the directory
		}
		hdr := &tar.Header{Name: p[1:], Mode: 0o755, Typeflag: tar.TypeReg, Size: 4,
			PAXRecords: map[string]string{caps.PAXRecordKey: string(fc.EncodeV2())}}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		tw.Write([]byte("\x7fELF"))
		paths[i] = p
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, paths
}

// checkLines fails when a line of out is not printable: an input's control
// character, line break or bidirectional override reached the terminal.
func checkLines(t *testing.T, what, out string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !printable.Safe(line) {
			t.Errorf("%s: line not printable: %q", what, line)
		}
	}
}

// TestHostileNamesAudit: every --justify hint that audit prints for a file
// named by the corpus splits, in a real sh, into exactly the --justify
// argument that justifies that file, and running audit with the split
// arguments (or, where the hint is a policy file entry, with that file)
// justifies every file.
func TestHostileNamesAudit(t *testing.T) {
	dir := t.TempDir()
	l, paths := hostileLayer(t, filepath.Join(dir, "hostile.tar"), "cap_sys_admin=ep")
	code, stdout, stderr := runCLI(t, "audit", "--profile", "none", "--allow", "SYS_ADMIN", l)
	if code != 1 {
		t.Fatalf("audit: exit %d, stderr %s", code, stderr)
	}
	checkLines(t, "audit", stdout)
	checkLines(t, "audit stderr", stderr)
	if n := strings.Count(stdout, "\nFAIL: "); n != 1 || strings.Contains(stdout, "\nPASS") {
		t.Errorf("audit prints %d FAIL lines, or a PASS line:\n%s", n, stdout)
	}
	var argv []string
	var entries []json.RawMessage
	const reason = "why the program needs it"
	for i, p := range paths {
		if p == "" {
			continue
		}
		hint := auditCLIWords.justify(policy.LiteralPattern(p), "SYS_ADMIN", reason)
		if !strings.Contains(stdout, "justify it: "+hint+"\n") {
			t.Errorf("%q: audit does not print the hint %s:\n%s", quotetestName(i), hint, stdout)
			continue
		}
		if strings.HasPrefix(hint, "--justify ") {
			words := quotetest.SplitShell(t, hint)
			want := []string{"--justify", policy.LiteralPattern(p) + ":SYS_ADMIN=" + reason}
			if !reflect.DeepEqual(words, want) {
				t.Errorf("%q: sh splits %s into %q, want %q", quotetestName(i), hint, words, want)
			}
			argv = append(argv, words...)
			continue
		}
		// A path --justify cannot hold: the hint is the policy file's
		// entry, JSON.
		start, end := strings.Index(hint, `{"path": `), strings.Index(hint, `} in the policy's`)
		if start < 0 || end < start || !printable.Safe(p) && !strings.Contains(hint, "(--justify cannot hold this path)") {
			t.Errorf("%q: hint is neither --justify nor a policy entry: %s", quotetestName(i), hint)
			continue
		}
		entries = append(entries, json.RawMessage(hint[start:end+1]))
	}
	pol := filepath.Join(dir, "policy.json")
	doc, _ := json.Marshal(map[string]any{"profile": "none", "allow": []string{"SYS_ADMIN"}, "justifications": entries})
	if err := os.WriteFile(pol, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, append(append([]string{"audit", "--policy", pol}, argv...), l)...)
	if code != 0 {
		t.Errorf("audit with the printed hints applied: exit %d\n%s%s", code, stdout, stderr)
	}
	if want := len(argv)/2 + len(entries); want < len(quotetest.Names)-1 {
		t.Errorf("%d hints applied for %d names", want, len(quotetest.Names))
	}
}

func quotetestName(i int) string { return quotetest.Names[i] }

// TestHostileNamesAuditMaxCaps: the max-caps hint quotes the path as the
// dangerous-capability hint does.
func TestHostileNamesAuditMaxCaps(t *testing.T) {
	l, paths := hostileLayer(t, filepath.Join(t.TempDir(), "hostile.tar"), "cap_chown,cap_kill=ep")
	code, stdout, _ := runCLI(t, "audit", "--profile", "docker-default", "--max-caps", "1", l)
	if code != 1 {
		t.Fatalf("audit: exit %d", code)
	}
	checkLines(t, "audit", stdout)
	for i, p := range paths {
		if p == "" {
			continue
		}
		hint := auditCLIWords.justify(policy.LiteralPattern(p), "CAP", "REASON")
		if !strings.Contains(stdout, " with "+hint+", or raise --max-caps") {
			t.Errorf("%q: no max-caps hint %s", quotetestName(i), hint)
			continue
		}
		if strings.HasPrefix(hint, "--justify ") {
			if got, want := quotetest.SplitShell(t, hint), []string{"--justify", policy.LiteralPattern(p) + ":CAP=REASON"}; !reflect.DeepEqual(got, want) {
				t.Errorf("%q: sh splits %s into %q, want %q", quotetestName(i), hint, got, want)
			}
		}
	}
}

// hostileLayout writes an OCI layout of one image run as user, named name
// (both annotations).
func hostileLayout(t *testing.T, dir, name, user, layer string) string {
	t.Helper()
	img := polImage(t, user, []string{"/app/server"}, "amd64", layer)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": name,
		"io.containerd.image.name":          name,
	}), layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostileArchive writes a docker save tarball of one image whose RepoTags
// and config user are name.
func hostileArchive(t *testing.T, file, name, layer string) string {
	t.Helper()
	img := polImage(t, name, []string{"/app/server"}, "amd64", layer)
	src := polDockerArchive(t, file+".orig", "example.com/placeholder:1", img)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var b bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&b)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if hdr.Name == "manifest.json" {
			var m []map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			m[0]["RepoTags"] = []string{name}
			body, _ = json.Marshal(m)
			hdr.Size = int64(len(body))
		}
		tw.WriteHeader(hdr)
		tw.Write(body)
	}
	tw.Close()
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestHostileNamesRequirements: an image named, and run as a user named, by
// the corpus. The docker and podman lines split back, in a real sh, into
// the JSON "command"; the image in it is the name only when it is a full
// reference that does not start with "-", else IMAGE with a note; the user
// is passed only when it cannot be read as a flag; the securityContext
// parses; no line is unprintable.
func TestHostileNamesRequirements(t *testing.T) {
	dir := t.TempDir()
	layer := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	for i, name := range quotetest.Names {
		for _, kind := range []string{"layout", "archive"} {
			var src string
			if kind == "layout" {
				src = hostileLayout(t, filepath.Join(dir, fmt.Sprintf("layout%02d", i)), name, name, layer)
			} else {
				if name == "" {
					continue // no RepoTag
				}
				src = hostileArchive(t, filepath.Join(dir, fmt.Sprintf("archive%02d.tar", i)), name, layer)
			}
			what := fmt.Sprintf("%s named %q", kind, name)
			code, text, stderr := runCLI(t, "requirements", src)
			if code != 0 {
				t.Errorf("%s: exit %d: %s", what, code, stderr)
				continue
			}
			checkLines(t, what, text)
			_, js, _ := runCLI(t, "requirements", "--json", src)
			checkLines(t, what+" (JSON)", js)
			var rep struct {
				Images []struct {
					Image    string
					User     string
					Notes    []string
					Runtimes []struct {
						Target  string
						Command []string
					}
				}
			}
			if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Images) != 1 {
				t.Errorf("%s: JSON: %v\n%s", what, err, js)
				continue
			}
			r := rep.Images[0]
			// The annotations and the config are JSON: what is not UTF-8
			// was U+FFFD when read.
			name := strings.ToValidUTF8(name, "\uFFFD")
			if name != "" && (r.Image != name || r.User != name) {
				t.Errorf("%s: JSON image %q, user %q: the data lost the name", what, r.Image, r.User)
			}
			wantImage := name
			if requirements.CheckImageName(name) != nil {
				wantImage = "IMAGE"
				if name != "" && !strings.Contains(strings.Join(r.Notes, "\n"), "is not printed in a command") {
					t.Errorf("%s: IMAGE without a note saying why: %q", what, r.Notes)
				}
			}
			for _, rt := range r.Runtimes[:2] {
				want := []string{rt.Target, "run", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"}
				if name != "" && name != "root" && !strings.HasPrefix(name, "-") && printable.Safe(name) {
					want = append(want, "--user", name)
				}
				want = append(want, wantImage)
				if !reflect.DeepEqual(rt.Command, want) {
					t.Errorf("%s: JSON %s command %q, want %q", what, rt.Target, rt.Command, want)
				}
				i := strings.Index(text, "\n  "+rt.Target+" run ")
				if i < 0 {
					t.Errorf("%s: no %s line:\n%s", what, rt.Target, text)
					continue
				}
				line := text[i+3:]
				line = line[:strings.IndexByte(line, '\n')]
				if got := quotetest.SplitShell(t, line); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: sh splits %s into %q, want %q", what, line, got, want)
				}
			}
			// The run line alone, and the securityContext through the
			// YAML parser Kubernetes reads manifests with.
			_, only, _ := runCLI(t, "requirements", "--only", "docker", src)
			if got := quotetest.SplitShell(t, strings.TrimSuffix(only, "\n")); !reflect.DeepEqual(got, r.Runtimes[0].Command) {
				t.Errorf("%s: --only docker splits into %q", what, got)
			}
			_, y, _ := runCLI(t, "requirements", "--only", "kubernetes", src)
			checkLines(t, what+" (YAML)", y)
			var sc struct {
				SecurityContext corev1.SecurityContext `json:"securityContext"`
			}
			if err := k8syaml.UnmarshalStrict([]byte(y), &sc); err != nil || sc.SecurityContext.AllowPrivilegeEscalation == nil ||
				sc.SecurityContext.Capabilities == nil || !slices.Equal(sc.SecurityContext.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
				t.Errorf("%s: securityContext YAML: %v\n%s", what, err, y)
			}
		}
	}
}

// TestHostileNamesRequirementsFiles: file names from the corpus reach the
// text escaped and the JSON whole.
func TestHostileNamesRequirementsFiles(t *testing.T) {
	l, paths := hostileLayer(t, filepath.Join(t.TempDir(), "hostile.tar"), "cap_net_raw=ep")
	_, text, _ := runCLI(t, "requirements", "--user", "1000", l)
	checkLines(t, "requirements", text)
	_, js, _ := runCLI(t, "requirements", "--json", "--user", "1000", l)
	checkLines(t, "requirements --json", js)
	var rep struct {
		Images []struct{ Files []struct{ Path string } }
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range rep.Images[0].Files {
		got = append(got, f.Path)
	}
	for _, p := range paths {
		if p != "" {
			want = append(want, strings.ToValidUTF8(p, "\uFFFD"))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("JSON paths:\n%q\nwant\n%q", got, want)
	}
	for _, p := range paths {
		if p != "" && !strings.Contains(text, "\n  "+printable.String(p)+"  ") {
			t.Errorf("text lacks the escaped %q", p)
		}
	}
}

// TestHostileNamesAdmission: an image named by the corpus changes only the
// policy's head comment: the documents parse (strictly, into the
// Kubernetes types) to the policy of a plain name, which e2e/kubernetes
// installs into a real API server.
func TestHostileNamesAdmission(t *testing.T) {
	dir := t.TempDir()
	layer := polWriteLayer(t, filepath.Join(dir, "server.tar"), polEntry{path: "/app/server", caps: "cap_net_bind_service=ep"})
	body := func(out string) []*yaml.Node {
		var docs []*yaml.Node
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			clearComments(&n)
			docs = append(docs, &n)
		}
		return docs
	}
	_, plain, stderr := runCLI(t, "admission-policy", hostileLayout(t, filepath.Join(dir, "plain"), "example.com/app:1", "1000", layer))
	if _, _, err := decodePolicy(plain); err != nil {
		t.Fatalf("%v\n%s%s", err, plain, stderr)
	}
	want := body(plain)
	for i, name := range quotetest.Names {
		src := hostileLayout(t, filepath.Join(dir, fmt.Sprintf("layout%02d", i)), name, "1000", layer)
		code, out, stderr := runCLI(t, "admission-policy", src)
		if code != 0 {
			t.Errorf("%q: exit %d: %s", name, code, stderr)
			continue
		}
		checkLines(t, fmt.Sprintf("%q", name), out)
		if _, _, err := decodePolicy(out); err != nil {
			t.Errorf("%q: %v", name, err)
		}
		if got := body(out); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: the policy differs from a plain name's beyond its comment:\n%s", name, out)
		}
		if name := strings.ToValidUTF8(name, "\uFFFD"); !strings.Contains(out, " "+printable.String(name)+": NET_BIND_SERVICE\n") && name != "" {
			t.Errorf("%q: the comment does not name the image escaped:\n%s", name, out)
		}
	}
}

func clearComments(n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearComments(c)
	}
}

// TestHostileNamesInspect: inspect's table escapes the corpus's file names
// and its JSON holds them whole.
func TestHostileNamesInspect(t *testing.T) {
	l, paths := hostileLayer(t, filepath.Join(t.TempDir(), "hostile.tar"), "cap_net_raw=ep")
	_, text, _ := runCLI(t, "inspect", l)
	checkLines(t, "inspect", text)
	_, js, _ := runCLI(t, "inspect", "--json", l)
	var rep struct {
		Images []struct {
			Layers []struct{ Files []struct{ Path string } }
		}
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Images) != 1 || len(rep.Images[0].Layers) != 1 {
		t.Fatalf("%v\n%s", err, js)
	}
	var got []string
	for _, f := range rep.Images[0].Layers[0].Files {
		got = append(got, f.Path)
	}
	for _, p := range paths {
		if p != "" && !slices.Contains(got, strings.ToValidUTF8(p, "\uFFFD")) {
			t.Errorf("JSON lacks %q", p)
		}
	}
}

// TestErrorLineEscaped: an error body from a registry (escape sequences, a
// carriage return, a forged verdict on a line of its own) reaches stderr as
// one printable line.
func TestErrorLineEscaped(t *testing.T) {
	const body = "\x1b[2J\x1b[H\rPASS: 0 errors\n\u202eok"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:1"
	code, _, stderr := runCLI(t, "inspect", "--insecure", ref)
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `\x1b[2J\x1b[H\rPASS: 0 errors\n\u202eok`) {
		t.Errorf("exit %d, stderr %q: want one line with the body escaped", code, stderr)
	}
	checkLines(t, "stderr", stderr)
	// A file name of the command line, in a usage error, is escaped too.
	code, _, stderr = runCLI(t, "inspect", "./missing\x1b[2J\nPASS")
	if code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkLines(t, "stderr", stderr)
}
