package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// corpusTars is every tar this package's tests know: the golden and GNU tar
// layers, the rewrite fixture, the FuzzRewrite corpus and seeds, and headers
// archive/tar encodes in each of its ways (GNU long names, PAX records,
// base-256 numbers, sub-second times, devices). Compressed ones are
// decompressed; inputs that are not tars give no entries.
func corpusTars(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	add := func(name string, b []byte) {
		if r, _, err := compression.NewReader(bytes.NewReader(b)); err == nil {
			if plain, err := io.ReadAll(io.LimitReader(r, 64<<20)); err == nil || len(plain) > 0 {
				b = plain
			}
		}
		out[name] = b
	}
	golden, _ := filepath.Glob("testdata/*.tar*")
	for _, p := range golden {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		add(p, b)
	}
	in, _, _ := fixture(t)
	add("fixture", in)
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzRewrite/*")
	if len(corpus) == 0 {
		t.Fatal("no FuzzRewrite corpus in testdata/fuzz/FuzzRewrite")
	}
	for _, p := range corpus {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a go fuzz corpus file of one []byte", p)
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		add(p, []byte(v))
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 123456789)
	for i, h := range []*tar.Header{
		{Typeflag: tar.TypeReg, Name: strings.Repeat("gnu-long/", 30) + "file", Format: tar.FormatGNU, Size: 513},
		{Typeflag: tar.TypeReg, Name: "pax/" + strings.Repeat("é", 80), Format: tar.FormatPAX, Size: 1,
			PAXRecords: map[string]string{caps.PAXRecordKey: string(capServer), "SCHILY.xattr.user.a": "b"}},
		{Typeflag: tar.TypeReg, Name: "big-ids", Uid: 1 << 30, Gid: 1<<32 - 2, Mode: 0o7777, Size: 512, ModTime: mt},
		{Typeflag: tar.TypeReg, Name: "gnu-time", Format: tar.FormatGNU, ModTime: mt, AccessTime: mt, Size: 0},
		{Typeflag: tar.TypeReg, Name: "far-future", ModTime: time.Unix(1<<34, 0), Size: 1000},
		{Typeflag: tar.TypeSymlink, Name: "link", Linkname: strings.Repeat("x", 200)},
		{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3},
		{Typeflag: tar.TypeDir, Name: "dir/", Uname: "root", Gname: strings.Repeat("g", 40)},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("header %d: %v", i, err)
		}
		tw.Write(bytes.Repeat([]byte{byte(i + 1)}, int(h.Size)))
	}
	tw.Close()
	add("encodings", buf.Bytes())
	return out
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// readTar reads the entries of b until its end or first error.
func readTar(b []byte) []tarEntry {
	var entries []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for len(entries) < 10000 {
		h, err := tr.Next()
		if err != nil {
			break
		}
		data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			break
		}
		entries = append(entries, tarEntry{h, data})
	}
	return entries
}

// TestTarWriterIsArchiveTar: for every entry of every corpus tar,
// tarWriter, given the contents as a file, writes the bytes archive/tar's
// Writer writes, and fails where it fails.
func TestTarWriterIsArchiveTar(t *testing.T) {
	body, err := os.Create(filepath.Join(t.TempDir(), "body"))
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	total := 0
	for name, b := range corpusTars(t) {
		entries := readTar(b)
		total += len(entries)

		var want bytes.Buffer
		wantErr := ""
		tw := tar.NewWriter(&want)
		for i, e := range entries {
			if err := tw.WriteHeader(e.hdr); err != nil {
				wantErr = fmt.Sprintf("entry %d: %v", i, err)
				break
			}
			tw.Write(e.data)
		}
		if wantErr == "" {
			tw.Close()
		}

		var got bytes.Buffer
		gotErr := ""
		w := &tarWriter{w: &got, body: func(src *os.File, n int64) error {
			_, err := io.CopyN(&got, src, n)
			return err
		}}
		for i, e := range entries {
			if err := w.header(e.hdr); err != nil {
				gotErr = fmt.Sprintf("entry %d: %v", i, err)
				w.flush()
				break
			}
			if err := body.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := body.WriteAt(e.data, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if err := w.contents(body, int64(len(e.data))); err != nil {
				t.Fatalf("%s: entry %d: %v", name, i, err)
			}
		}
		if gotErr == "" {
			if err := w.close(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if gotErr != wantErr {
			t.Errorf("%s: tarWriter error %q, archive/tar %q", name, gotErr, wantErr)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: tarWriter wrote %d bytes, archive/tar %d:\n%s", name, got.Len(), want.Len(), byteDiff(got.Bytes(), want.Bytes()))
		}
	}
	if total < 150 {
		t.Errorf("the corpus has %d entries; want at least 150", total)
	}
}

// TestWriteFileWithoutDigests: the unhashed path (the kernel's copy for an
// uncompressed layer) writes every golden layer byte for byte, and the
// descriptor it leaves out is what Describe computes.
func TestWriteFileWithoutDigests(t *testing.T) {
	for _, tc := range []struct {
		golden string
		files  []File
		opts   []Option
	}{
		{"golden.tar", testFiles(), nil},
		{"golden.tar.gz", testFiles(), []Option{WithCompression(Gzip)}},
		{"golden.tar.zst", testFiles(), []Option{WithCompression(Zstd)}},
		{"golden-owner.tar", testFiles(), []Option{WithOwner(65532, 65532), WithMode(0o750), WithModTime(1700000000)}},
		{"golden-rootid.tar", rootIDFiles(), nil},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tc.golden)
			res, err := WriteFile(out, tc.files, append(tc.opts, WithDigests(false))...)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			want, err := os.ReadFile(filepath.Join("testdata", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("WriteFile without digests differs from %s:\n%s", tc.golden, byteDiff(got, want))
			}
			_, hashed := writeBytes(t, tc.files, tc.opts...)
			if res.Digest != (hashed.Digest) && res.Digest.Hex != "" || res.Size != 0 {
				t.Errorf("unhashed result has digest %v size %d", res.Digest, res.Size)
			}
			d := hashed.Descriptor
			d.Digest, d.DiffID, d.Size = res.Digest, res.DiffID, 0
			if a, b := marshal(t, res.Descriptor), marshal(t, d); !bytes.Equal(a, b) {
				t.Errorf("unhashed result\n%s\nwant\n%s", a, b)
			}
		})
	}
	if _, err := WriteFile(filepath.Join(t.TempDir(), "x.tar"), testFiles(), WithDigests(false), WithDescriptorFile(filepath.Join(t.TempDir(), "x.json"))); err == nil {
		t.Error("WithDigests(false) and WithDescriptorFile together were accepted")
	}
}

// TestWriteFileWithoutDigestsChangedSource: a source that grows or shrinks
// between planning and copying is still caught on the kernel-copy path.
func TestWriteFileWithoutDigestsChangedSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, tc := range []struct {
		name   string
		change func()
		want   string
	}{
		{"shrank", func() { os.Truncate(src, 10) }, "size 4000, then 10"},
		{"grew", func() { os.WriteFile(src, make([]byte, 5000), 0o644) }, "size 4000, then 5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(src, make([]byte, 4000), 0o644)
			o, _ := makeOptions([]Option{WithDigests(false)})
			entries, warnings, err := plan([]File{{Path: "/a", Source: src}}, o)
			if err != nil {
				t.Fatal(err)
			}
			tc.change()
			out := filepath.Join(dir, tc.name+".tar")
			_, err = writeAtomicFile(out, o, func(f *os.File) (*Result, error) { return write(f, entries, warnings, o) })
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a failed write left the layer")
			}
		})
	}
}

// TestRewriteFileKernelCopy: RewriteFile without digests, where the data of
// unchanged entries goes from the input file to the layer in the kernel,
// writes the bytes Rewrite writes through its reads, and fails where it
// fails, for every corpus tar (a named /bin/ping where there is one, else
// the first regular file) and a tar of large entries.
func TestRewriteFileKernelCopy(t *testing.T) {
	dir := t.TempDir()
	tars := corpusTars(t)
	var big bytes.Buffer
	tw := tar.NewWriter(&big)
	for i, size := range []int{2<<20 + 3, 2, 1 << 20, 3<<20 + 7, 511, 513} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("f%d", i), Mode: 0o755, Size: int64(size)})
		tw.Write(bytes.Repeat([]byte{byte(i + 1)}, size))
	}
	tw.Close()
	tars["large"] = big.Bytes()
	in := filepath.Join(dir, "in.tar")
	accepted := 0
	for name, b := range tars {
		target := "/bin/ping"
		if entries := readTar(b); len(entries) > 0 {
			has := false
			for _, e := range entries {
				if p, _ := inspectClean(e.hdr.Name); p == "/bin/ping" {
					has = true
				}
			}
			if !has {
				for _, e := range entries {
					if e.hdr.Typeflag == tar.TypeReg {
						target, _ = inspectClean(e.hdr.Name)
						break
					}
				}
			}
		}
		sets := []SetCap{{Path: target, Caps: *mustXattr(netRawP)}}
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want, _, wantErr := rewriteBytes(t, b, sets, WithAllowScripts(true), WithAllowUnsafeMode(true))
		out := filepath.Join(dir, "out.tar")
		os.Remove(out)
		before := kernelCopied.Load()
		res, err := RewriteFile(out, in, sets, WithDigests(false), WithAllowScripts(true), WithAllowUnsafeMode(true))
		if name == "large" && kernelCopied.Load()-before < 6<<20 {
			t.Errorf("large: %d bytes copied in the kernel; want nearly all of the 6 MiB of data, the named file's included", kernelCopied.Load()-before)
		}
		if (err == nil) != (wantErr == nil) {
			t.Errorf("%s: RewriteFile without digests: %v; Rewrite: %v", name, err, wantErr)
			continue
		}
		if err != nil {
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("%s: a failed RewriteFile left %s", name, out)
			}
			continue
		}
		accepted++
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: RewriteFile without digests wrote %d bytes, Rewrite %d:\n%s", name, len(got), len(want), byteDiff(got, want))
		}
		if res.Digest.Hex != "" || res.Size != 0 {
			t.Errorf("%s: unhashed result has digest %v size %d", name, res.Digest, res.Size)
		}
	}
	t.Logf("%d of %d corpus tars rewritten", accepted, len(tars))
	if accepted < 5 {
		t.Errorf("only %d corpus tars were rewritten; want at least 5", accepted)
	}
}

func inspectClean(name string) (string, error) { return tarfs.CleanName(name) }
