package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDescribeIsLayerDescriptor: describe writes, from the layer alone, the
// bytes layer --descriptor wrote with it, for new and rewritten layers.
func TestDescribeIsLayerDescriptor(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		out   string
		args  []string
		paths []string
	}{
		{"new.tar", append(goldenFiles(), "--owner", "65532:65532", "--rootid", "1000"), nil},
		{"new.tar.gz", goldenFiles(), nil},
		{"rewrite.tar.zst", []string{"--from-tar", filepath.Join(layerTestdata, "gnutar-default.tar"), "--set", "/app-data/motd=cap_chown+ep", "--set", "/app/server=NET_RAW"}, []string{"/app/server", "/app-data/motd"}},
	} {
		t.Run(tc.out, func(t *testing.T) {
			out := filepath.Join(dir, tc.out)
			want := out + ".want.json"
			if code, _, stderr := runCLI(t, append([]string{"layer", "--output", out, "--descriptor", want}, tc.args...)...); code != 0 {
				t.Fatalf("layer: exit %d: %s", code, stderr)
			}
			wantJS, _ := os.ReadFile(want)
			args := []string{"describe", out}
			for _, p := range tc.paths {
				args = append(args, "--path", p)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 || stderr != "" || stdout != string(wantJS) {
				t.Errorf("describe: exit %d, stderr %q, stdout\n%s\nwant\n%s", code, stderr, stdout, wantJS)
			}
			got := out + ".got.json"
			if code, stdout, stderr := runCLI(t, append(args, "--output", got)...); code != 0 || stdout != "" || stderr != "" {
				t.Fatalf("describe --output: exit %d, %q, %q", code, stdout, stderr)
			}
			if gotJS, _ := os.ReadFile(got); !bytes.Equal(gotJS, wantJS) {
				t.Errorf("describe --output wrote\n%s\nwant\n%s", gotJS, wantJS)
			}
		})
	}
}

func TestDescribeErrors(t *testing.T) {
	golden := filepath.Join(layerTestdata, "golden.tar")
	gz := filepath.Join(layerTestdata, "golden.tar.gz")
	dir := t.TempDir()
	noext := filepath.Join(dir, "layer")
	b, _ := os.ReadFile(golden)
	os.WriteFile(noext, b, 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "describe takes one LAYER"},
		{[]string{noext}, 2, "cannot tell the compression"},
		{[]string{noext, "--compression", "gzip"}, 2, "is an uncompressed tar, not gzip-compressed"},
		{[]string{gz, "--compression", "zstd"}, 2, "does not match"},
		{[]string{golden, "--path", "/app/nope"}, 2, "not a regular file of the layer: /app/nope"},
		{[]string{golden, "--output", golden}, 2, "is also the input argument 1"},
		{[]string{filepath.Join(dir, "missing.tar")}, 2, "no such file"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"describe"}, tc.args...)...)
		if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("describe %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
	if code, stdout, _ := runCLI(t, "describe", noext, "--compression", "none"); code != 0 || !strings.Contains(stdout, `"diff_id"`) {
		t.Errorf("describe --compression none: exit %d, %s", code, stdout)
	}
}
