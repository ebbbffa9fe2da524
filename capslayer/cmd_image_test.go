package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// capsLayerCLI writes a layer with `capslayer layer` holding a real
// executable (/bin/true) at /app/server with cap_net_bind_service=ep.
func capsLayerCLI(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "caps.tar")
	code, _, stderr := runCLI(t, "layer", "--binary", "/bin/true", "--path", "/app/server", "--caps", "cap_net_bind_service=ep", "--output", out)
	if code != 0 {
		t.Fatalf("capslayer layer: exit %d: %s", code, stderr)
	}
	return out
}

// imageCLI runs the acceptance form of capslayer image and returns the
// printed digest.
func imageCLI(t *testing.T, layer, out string, extra ...string) string {
	t.Helper()
	args := append([]string{"image", "--layer", layer, "--entrypoint", "/app/server", "--user", "1000", "--platform", "linux/amd64", "--output", out}, extra...)
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 || stderr != "" {
		t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
	}
	d := strings.TrimSpace(stdout)
	if !strings.HasPrefix(d, "sha256:") || len(d) != 71 {
		t.Fatalf("stdout %q is not a digest", stdout)
	}
	return d
}

func TestImageCLIReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	l := capsLayerCLI(t)
	dir := t.TempDir()
	d1 := imageCLI(t, l, filepath.Join(dir, "a"), "--tarball", filepath.Join(dir, "a.tar"), "--tag", "example.com/app:v1")
	d2 := imageCLI(t, l, filepath.Join(dir, "b"), "--tarball", filepath.Join(dir, "b.tar"), "--tag", "example.com/app:v1")
	if d1 != d2 {
		t.Fatalf("same inputs, different digests: %s %s", d1, d2)
	}
	for _, name := range []string{"a.tar", "b.tar"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.tar"))
	if !bytes.Equal(a, b) {
		t.Error("tarballs differ")
	}
	// The manifest blob named by index.json is the printed digest, and the
	// layer blob is the layer file.
	idx, _ := os.ReadFile(filepath.Join(dir, "a", "index.json"))
	if !strings.Contains(string(idx), d1) || !strings.Contains(string(idx), `"org.opencontainers.image.ref.name": "v1"`) {
		t.Errorf("index.json %s", idx)
	}
	raw, _ := os.ReadFile(l)
	blob, err := os.ReadFile(filepath.Join(dir, "a", "blobs", "sha256", strings.TrimPrefix(tartest.Digest(raw), "sha256:")))
	if err != nil || !bytes.Equal(blob, raw) {
		t.Errorf("layer blob is not the layer file (err %v)", err)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	d3 := imageCLI(t, l, filepath.Join(dir, "c"))
	if d3 == d1 {
		t.Error("SOURCE_DATE_EPOCH did not change the digest")
	}
	d4 := imageCLI(t, l, filepath.Join(dir, "d"), "--created", "0")
	if d4 != d1 {
		t.Errorf("--created 0 with SOURCE_DATE_EPOCH set: %s, want %s", d4, d1)
	}
	rep, err := inspect.Path(filepath.Join(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Images[0].Name != "latest" || rep.Images[0].Digest != d3 || len(rep.Images[0].Files()) != 1 {
		t.Errorf("report %+v", rep.Images[0])
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	code, _, stderr := runCLI(t, "image", "--layer", l, "--entrypoint", "/app/server", "--output", filepath.Join(dir, "e"))
	if code != 2 || !strings.Contains(stderr, `SOURCE_DATE_EPOCH="yesterday"`) {
		t.Errorf("bad SOURCE_DATE_EPOCH: exit %d, %s", code, stderr)
	}
}

func TestImageCLIErrors(t *testing.T) {
	l := capsLayerCLI(t)
	dir := t.TempDir()
	notTar := tartest.WriteFile(t, "notes.tar", []byte(strings.Repeat("x", 2000)))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--layer", l, "--entrypoint", "/app/server"}, "missing --output"},
		{[]string{"--layer", l, "--output", dir + "/o", "--tarball", dir + "/o.tar"}, "--tarball needs --tag NAME:TAG"},
		{[]string{"--output", dir + "/o"}, "give at least one --layer"},
		{[]string{"--layer", l, "--entrypoint", "/app/srever", "--output", dir + "/o"}, "entrypoint /app/srever: /app/srever exists in no layer of the image; check --entrypoint (or --cmd) and the --layer paths, or pass --no-entrypoint-check"},
		{[]string{"--layer", notTar, "--entrypoint", "/app/server", "--output", dir + "/o"}, "notes.tar: inspect: not a tar archive"},
		{[]string{"--layer", l, "--platform", "linux", "--output", dir + "/o"}, "--platform: image: platform \"linux\": want os/arch"},
		{[]string{"--layer", l, "--expose", "http", "--output", dir + "/o"}, "exposed port \"http\""},
		{[]string{"--layer", l, "--entrypoint", "[/app/server", "--output", dir + "/o"}, "not a JSON array"},
		{[]string{"--layer", l, "--created", "soon", "--output", dir + "/o"}, "--created"},
		{[]string{"--layer", l, "stray"}, "unexpected argument \"stray\""},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"image"}, tc.args...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if _, err := os.Stat(dir + "/o"); !os.IsNotExist(err) {
		t.Error("a failed run left an output")
	}
	// A base of another platform.
	base := filepath.Join(dir, "base")
	imageCLI(t, l, base)
	code, _, stderr := runCLI(t, "image", "--base", base, "--platform", "linux/arm64", "--layer", l, "--entrypoint", "/app/server", "--output", dir+"/o")
	if code != 2 || !strings.Contains(stderr, "has no image for that platform: no image for platform linux/arm64; it has: latest (linux/amd64); pick one with --platform") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// Issue 15: `capslayer image --base L --layer good.tar --entrypoint
// /app/server --output out` with an L whose index.json lists no manifest
// panicked; it is a usage error naming the base, and writes nothing.
func TestImageCLIBaseWithEmptyManifests(t *testing.T) {
	l := capsLayerCLI(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "L")
	imageCLI(t, l, base)
	if err := os.WriteFile(filepath.Join(base, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI(t, "image", "--base", base, "--layer", l, "--entrypoint", "/app/server", "--output", out)
	want := "capslayer image: base " + base + ": the base holds no image: its index lists no image manifest; give --base an OCI image layout or docker save tarball that holds an image\n"
	if code != 2 || stdout != "" || stderr != want {
		t.Errorf("exit %d stdout %q stderr %q; want 2 and %q", code, stdout, stderr, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output written: %v", err)
	}
}

func TestImageIndexCLI(t *testing.T) {
	l := capsLayerCLI(t)
	dir := t.TempDir()
	imageCLI(t, l, filepath.Join(dir, "amd64"))
	code, _, stderr := runCLI(t, "image", "--layer", l, "--entrypoint", "/app/server", "--platform", "linux/arm64", "--output", filepath.Join(dir, "arm64"))
	if code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runCLI(t, "image", "index", "--output", filepath.Join(dir, "multi"), "--tag", "app:v1", filepath.Join(dir, "amd64"), filepath.Join(dir, "arm64"))
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep, err := inspect.Path(filepath.Join(dir, "multi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 2 || rep.Images[0].Platform != "linux/amd64" || rep.Images[1].Platform != "linux/arm64" || rep.Images[0].Name != "app:v1" {
		t.Fatalf("report %+v", rep)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, "multi", "index.json"))
	var im struct {
		Manifests []struct{ Digest, MediaType string }
	}
	json.Unmarshal(idx, &im)
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != strings.TrimSpace(stdout) || im.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index.json %s", idx)
	}
	code, _, stderr = runCLI(t, "image", "index", "--output", filepath.Join(dir, "dup"), filepath.Join(dir, "amd64"), filepath.Join(dir, "amd64"))
	if code != 2 || !strings.Contains(stderr, "both for linux/amd64") {
		t.Errorf("duplicate platforms: exit %d %s", code, stderr)
	}
}

// Issue 14 item 6: --digest-file writes what stdout says, atomically, so
// caps_image needs no shell; a path that cannot be written is refused
// before any work.
func TestImageCLIDigestFile(t *testing.T) {
	l := capsLayerCLI(t)
	dir := t.TempDir()
	df := filepath.Join(dir, "image.digest")
	d := imageCLI(t, l, filepath.Join(dir, "out2"))
	code, stdout, stderr := runCLI(t, "image", "--layer", l, "--entrypoint", "/app/server", "--user", "1000", "--platform", "linux/amd64", "--output", filepath.Join(dir, "out"), "--digest-file", df)
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("with --digest-file: exit %d, stdout %q (want none), stderr %q", code, stdout, stderr)
	}
	os.RemoveAll(filepath.Join(dir, "out2"))
	b, err := os.ReadFile(df)
	if err != nil || string(b) != d+"\n" {
		t.Fatalf("digest file %q (%v), want %q as without --digest-file", b, err, d)
	}
	if fi, _ := os.Stat(df); fi.Mode().Perm() != 0o644 {
		t.Errorf("digest file mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("leftovers beside the outputs: %v", ents)
	}
	// image index too; its layout is written twice, to compare.
	idf := filepath.Join(dir, "index.digest")
	code, stdout, stderr = runCLI(t, "image", "index", "--output", filepath.Join(dir, "multi"), "--digest-file", idf, filepath.Join(dir, "out"))
	_, want, _ := runCLI(t, "image", "index", "--output", filepath.Join(dir, "multi"), filepath.Join(dir, "out"))
	if b, _ := os.ReadFile(idf); code != 0 || stdout != "" || string(b) != want {
		t.Errorf("image index: exit %d %s; digest file %q, stdout %q, want %q", code, stderr, b, stdout, want)
	}
	for _, tc := range []struct{ path, want string }{
		{dir, "--digest-file \"" + dir + "\" is a directory"},
		{filepath.Join(dir, "no", "such", "d"), "does not exist: create it first"},
	} {
		out := filepath.Join(dir, "never")
		code, stdout, stderr := runCLI(t, "image", "--layer", l, "--entrypoint", "/app/server", "--output", out, "--digest-file", tc.path)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d stdout %q stderr %q, want 2 and %q", tc.path, code, stdout, stderr, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: the layout was written anyway", tc.path)
		}
	}
	// A failed build leaves the previous digest file alone.
	code, _, _ = runCLI(t, "image", "--layer", l, "--entrypoint", "/app/nope", "--output", filepath.Join(dir, "out"), "--digest-file", df)
	if b, _ := os.ReadFile(df); code != 2 || string(b) != d+"\n" {
		t.Errorf("failed build: exit %d, digest file %q", code, b)
	}
}

// Issue 14 item 7: the library's typed errors get the fix in the caller's
// words: flags for the CLI, caps_image's attributes with --hint-style bazel.
func TestImageCLIHintStyle(t *testing.T) {
	l := capsLayerCLI(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		style, want string
	}{
		{"cli", "entrypoint /app/nope: /app/nope exists in no layer of the image; check --entrypoint (or --cmd) and the --layer paths, or pass --no-entrypoint-check\n"},
		{"bazel", "entrypoint /app/nope: /app/nope exists in no layer of the image; check 'entrypoint' (or 'cmd') and 'layers', or set check_entrypoint = False\n"},
	} {
		code, _, stderr := runCLI(t, "image", "--layer", l, "--entrypoint", "/app/nope", "--output", filepath.Join(dir, "o"), "--hint-style", tc.style)
		if code != 2 || stderr != "capslayer image: "+tc.want {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.style, code, stderr, tc.want)
		}
	}
	code, _, stderr := runCLI(t, "image", "--layer", l, "--output", filepath.Join(dir, "o"), "--hint-style", "make")
	if code != 2 || !strings.Contains(stderr, `--hint-style "make": want one of cli, bazel`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestImageTarballCLI: image tarball writes, from the layout, the bytes
// that image --tarball writes beside it; its errors name the fix and leave
// no output.
func TestImageTarballCLI(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	l := capsLayerCLI(t)
	dir := t.TempDir()
	lay := filepath.Join(dir, "image")
	imageCLI(t, l, lay, "--tarball", filepath.Join(dir, "image.tar"), "--tag", "example.com/app:v1")
	out := filepath.Join(dir, "out", "from-layout.tar")
	code, stdout, stderr := runCLI(t, "image", "tarball", "--tag", "example.com/app:v1", "--output", out, lay)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("image tarball: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "image.tar"))
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("image tarball wrote %d bytes (err %v), image --tarball %d: they differ", len(got), err, len(want))
	}

	bad := filepath.Join(dir, "bad.tar")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tag", "a:1", lay}, "image tarball: missing --output OUT.tar"},
		{[]string{"--output", bad, lay}, "missing --tag NAME:TAG: docker load and podman load name the image after it"},
		{[]string{"--tag", "a:1", "--output", bad}, "give one image layout"},
		{[]string{"--tag", "a:1", "--output", bad, lay, lay}, "give one image layout"},
		{[]string{"--tag", "Bad Tag", "--output", bad, lay}, "--tag"},
		{[]string{"--tag", "a:1", "--output", bad, l}, "is a single layer tar, not an image"},
		{[]string{"--tag", "a:1", "--output", filepath.Join(lay, "index.json"), lay}, "is inside the input directory"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"image", "tarball"}, tc.args...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s", bad)
	}
}
