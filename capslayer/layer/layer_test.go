package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

var update = flag.Bool("update", false, "rewrite testdata/golden*.tar* from the current writer")

// Capability values written by the real setcap(8) (libcap 2.66); the GNU tar
// reference layers in testdata carry the same bytes, so TestGNUTarReference
// also pins these.
var (
	// setcap cap_net_bind_service=ep
	capServer = mustHex("0100000200040000000000000000000000000000")
	// setcap cap_net_admin,cap_net_raw=ep
	capTcpdump = mustHex("0100000200300000000000000000000000000000")
	// setcap -n 1000 cap_net_bind_service=p (revision 3, rootid 1000)
	capNSTool = mustHex("0000000300040000000000000000000000000000e8030000")
)

// mustXattr decodes a security.capability value.
func mustXattr(raw []byte) *caps.Xattr {
	x, err := caps.Decode(raw)
	if err != nil {
		panic(err)
	}
	return &x
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testFiles is the layout of the testdata layers (see gen-gnutar.sh), in an
// order different from the archive order.
func testFiles() []File {
	return []File{
		{Path: "/app/tools/tcpdump", Source: "testdata/src/tcpdump", Caps: mustXattr(capTcpdump)},
		{Path: "/app-data/motd", Source: "testdata/src/motd"},
		{Path: "/app/server", Source: "testdata/src/server", Caps: mustXattr(capServer)},
	}
}

// rootIDFiles is the layout of testdata/gnutar-rootid.tar.
func rootIDFiles() []File {
	return []File{{Path: "/opt/nstool", Source: "testdata/src/nstool", Caps: mustXattr(capNSTool)}}
}

func writeBytes(t testing.TB, files []File, opts ...Option) ([]byte, *Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Write(&buf, files, opts...)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), res
}

// normalizeGNUExtendedHeaders rewrites the mode of every PAX extended header
// ('x' entry) from GNU tar's 0644 to archive/tar's 0 and fixes the header
// checksum. It walks the archive block by block.
func normalizeGNUExtendedHeaders(t *testing.T, b []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	for off := 0; off+512 <= len(b); {
		h := b[off : off+512]
		if bytes.Equal(h, make([]byte, 512)) {
			break // end-of-archive blocks
		}
		size, err := strconv.ParseInt(strings.Trim(string(h[124:136]), "\x00 "), 8, 64)
		if err != nil {
			t.Fatalf("block at %d: bad size field %q", off, h[124:136])
		}
		if h[156] == 'x' {
			copy(h[100:108], "0000000\x00")
			copy(h[148:156], "        ")
			var sum int64
			for _, c := range h {
				sum += int64(c)
			}
			copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		}
		off += 512 + int(size+511)/512*512
	}
	return b
}

// TestGNUTarReference checks the writer against layers that GNU tar wrote
// from files given their capabilities by the real setcap
// (testdata/gen-gnutar.sh): same bytes, except that GNU tar gives PAX
// extended headers mode 0644 where Go's archive/tar writes 0.
func TestGNUTarReference(t *testing.T) {
	for _, tc := range []struct {
		ref   string
		files []File
		opts  []Option
	}{
		{"gnutar-default.tar", testFiles(), nil},
		{"gnutar-owner.tar", testFiles(), []Option{WithOwner(65532, 65532), WithMode(0o750), WithModTime(1700000000)}},
		{"gnutar-rootid.tar", rootIDFiles(), nil},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			ref, err := os.ReadFile(filepath.Join("testdata", tc.ref))
			if err != nil {
				t.Fatal(err)
			}
			want := normalizeGNUExtendedHeaders(t, ref)
			if bytes.Equal(want, ref) {
				t.Fatalf("normalizing %s changed nothing: the reference has no extended headers?", tc.ref)
			}
			got, _ := writeBytes(t, tc.files, tc.opts...)
			if !bytes.Equal(got, want) {
				t.Errorf("Write differs from GNU tar reference %s:\n%s", tc.ref, byteDiff(got, want))
			}
		})
	}
}

// byteDiff describes the first difference of two byte slices.
func byteDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			lo, hi := i/16*16, min(i/16*16+32, n)
			return fmt.Sprintf("first difference at byte %d (block %d, offset %d in block), len got %d want %d\n got: %q\nwant: %q",
				i, i/512, i%512, len(got), len(want), got[lo:min(hi, len(got))], want[lo:min(hi, len(want))])
		}
	}
	return fmt.Sprintf("one is a prefix of the other: len got %d, want %d", len(got), len(want))
}

// TestGolden pins the exact bytes of the testdata layers, compressed and
// not. testdata/README.md gives the capslayer commands that produced them;
// regenerate with `go test ./capslayer/layer -run TestGolden -update`.
func TestGolden(t *testing.T) {
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
			got, res := writeBytes(t, tc.files, tc.opts...)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Write differs from %s:\n%s", path, byteDiff(got, want))
			}
			if d := fmt.Sprintf("sha256:%x", sha256.Sum256(want)); res.Digest.String() != d {
				t.Errorf("Digest = %s, want %s", res.Digest, d)
			}
		})
	}
}

// readEntries reads an uncompressed layer with archive/tar.
func readEntries(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		if err != nil {
			t.Fatalf("tar.Reader.Next: %v", err)
		}
		hdrs = append(hdrs, h)
	}
}

func TestLayout(t *testing.T) {
	b, res := writeBytes(t, testFiles(), WithOwner(65532, 65533), WithMode(0o750), WithModTime(1700000000))
	type row struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
		xattr    string
	}
	want := []row{
		{"app/", tar.TypeDir, 0o755, 0, 0, ""},
		{"app/server", tar.TypeReg, 0o750, 65532, 65533, string(capServer)},
		{"app/tools/", tar.TypeDir, 0o755, 0, 0, ""},
		{"app/tools/tcpdump", tar.TypeReg, 0o750, 65532, 65533, string(capTcpdump)},
		{"app-data/", tar.TypeDir, 0o755, 0, 0, ""},
		{"app-data/motd", tar.TypeReg, 0o750, 65532, 65533, ""},
	}
	hdrs := readEntries(t, b)
	if len(hdrs) != len(want) {
		t.Fatalf("got %d entries, want %d", len(hdrs), len(want))
	}
	for i, h := range hdrs {
		w := want[i]
		got := row{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.PAXRecords[caps.PAXRecordKey]}
		if got != w {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: uname/gname = %q/%q, want empty", h.Name, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(1700000000, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times = %v %v %v, want mtime 1700000000 only", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		if len(h.PAXRecords) > 1 {
			t.Errorf("%s: PAX records %q, want at most the capability", h.Name, h.PAXRecords)
		}
	}
	var paths []string
	for _, f := range res.Files {
		paths = append(paths, f.Path)
	}
	if got, want := strings.Join(paths, " "), "/app/server /app/tools/tcpdump /app-data/motd"; got != want {
		t.Errorf("Result.Files paths = %s, want %s", got, want)
	}
	if f := res.Files[1]; f.Caps != "cap_net_admin,cap_net_raw=ep" || f.Xattr != hex.EncodeToString(capTcpdump) || f.Mode != "0750" || f.UID != 65532 || f.GID != 65533 || f.Size != 24 {
		t.Errorf("Result.Files[1] = %+v", f)
	}
}

// TestHostIndependent changes everything the host could leak (source
// permissions, times, the order files are given in) and expects the same
// bytes.
func TestHostIndependent(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("\x7fELF same bytes\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(b, 0o777)
	os.Chtimes(a, time.Unix(1, 0), time.Unix(2, 0))
	os.Chtimes(b, time.Now(), time.Now())
	if os.Geteuid() == 0 {
		os.Chown(b, 1234, 5678)
	}
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("other\n"), 0o644)
	filesA := []File{{Path: "/x/bin", Source: a, Caps: mustXattr(capServer)}, {Path: "/y", Source: other}}
	filesB := []File{{Path: "/y", Source: other}, {Path: "/x/bin", Source: b, Caps: mustXattr(capServer)}}
	ba, _ := writeBytes(t, filesA)
	bb, _ := writeBytes(t, filesB)
	if !bytes.Equal(ba, bb) {
		t.Errorf("layers differ with host metadata:\n%s", byteDiff(ba, bb))
	}
}

func TestSymlinkStoredAsFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	os.WriteFile(target, []byte("contents\n"), 0o644)
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	viaLink, _ := writeBytes(t, []File{{Path: "/bin/x", Source: link, Caps: mustXattr(capServer)}})
	direct, _ := writeBytes(t, []File{{Path: "/bin/x", Source: target, Caps: mustXattr(capServer)}})
	if !bytes.Equal(viaLink, direct) {
		t.Errorf("symlinked source stored differently from its target:\n%s", byteDiff(viaLink, direct))
	}
	if h := readEntries(t, viaLink)[1]; h.Typeflag != tar.TypeReg || h.Size != 9 {
		t.Errorf("entry = %c size %d, want regular file of 9 bytes", h.Typeflag, h.Size)
	}
}

// TestContents streams files larger than the copy chunks, of sizes around
// chunk boundaries, and reads them back.
func TestContents(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{0, 1, 511, 512, 513, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 7, (chunks+2)*chunkSize + 1}
	var files []File
	want := map[string][]byte{}
	for i, n := range sizes {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(j*7 + i + j>>12)
		}
		src := filepath.Join(dir, strconv.Itoa(i))
		os.WriteFile(src, data, 0o644)
		p := fmt.Sprintf("/data/f%02d", i)
		files = append(files, File{Path: p, Source: src})
		want[p[1:]] = data
	}
	for _, c := range []Compression{None, Gzip, Zstd} {
		t.Run(string(c), func(t *testing.T) {
			b, res := writeBytes(t, files, WithCompression(c))
			tarBytes := decompress(t, c, b)
			if d := fmt.Sprintf("sha256:%x", sha256.Sum256(tarBytes)); res.DiffID.String() != d {
				t.Errorf("DiffID = %s, want %s (sha256 of the decompressed stream)", res.DiffID, d)
			}
			if d := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); res.Digest.String() != d {
				t.Errorf("Digest = %s, want %s", res.Digest, d)
			}
			if res.Size != int64(len(b)) {
				t.Errorf("Size = %d, want %d", res.Size, len(b))
			}
			tr := tar.NewReader(bytes.NewReader(tarBytes))
			n := 0
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Typeflag == tar.TypeDir {
					continue
				}
				got, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want[h.Name]) {
					t.Errorf("%s: contents differ (len %d, want %d)", h.Name, len(got), len(want[h.Name]))
				}
				n++
			}
			if n != len(sizes) {
				t.Errorf("read %d files, want %d", n, len(sizes))
			}
		})
	}
}

func TestLongAndUnicodePaths(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	os.WriteFile(src, []byte("x"), 0o644)
	long := "/" + strings.Repeat("d", 120) + "/" + strings.Repeat("n", 150)
	files := []File{
		{Path: long, Source: src, Caps: mustXattr(capServer)},
		{Path: "/opt/ünïcødé/bin", Source: src},
	}
	b, _ := writeBytes(t, files, WithOwner(3000000, 3000000), WithModTime(MaxModTime))
	hdrs := readEntries(t, b)
	got := map[string]*tar.Header{}
	for _, h := range hdrs {
		got[h.Name] = h
	}
	for _, f := range files {
		h := got[f.Path[1:]]
		if h == nil {
			t.Fatalf("no entry %q in %v", f.Path[1:], hdrs)
		}
		if h.Uid != 3000000 || h.ModTime.Unix() != MaxModTime {
			t.Errorf("%s: uid %d mtime %d, want 3000000 and %d", h.Name, h.Uid, h.ModTime.Unix(), int64(MaxModTime))
		}
	}
	if h := got[long[1:]]; h.PAXRecords[caps.PAXRecordKey] != string(capServer) {
		t.Errorf("long path lost its capability: %q", h.PAXRecords)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, []byte("\x7fELF"), 0o755)
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink("nowhere", dangling)
	for _, tc := range []struct {
		name  string
		files []File
		opts  []Option
		want  string
	}{
		{"no files", nil, nil, "no files given"},
		{"empty path", []File{{Path: "", Source: bin}}, nil, "destination path is empty"},
		{"relative", []File{{Path: "app/bin", Source: bin}}, nil, `destination "app/bin" is not absolute: use "/app/bin"`},
		{"root", []File{{Path: "/", Source: bin}}, nil, `destination "/" is the root directory`},
		{"trailing slash", []File{{Path: "/app/", Source: bin}}, nil, `destination "/app/" ends with "/"`},
		{"dotdot", []File{{Path: "/app/../etc/bin", Source: bin}}, nil, `destination "/app/../etc/bin" is not clean (it has "..", "." or "//" in it): use "/etc/bin"`},
		{"double slash", []File{{Path: "/app//bin", Source: bin}}, nil, `use "/app/bin"`},
		{"dot", []File{{Path: "/./bin", Source: bin}}, nil, `use "/bin"`},
		{"nul", []File{{Path: "/a\x00b", Source: bin}}, nil, "NUL byte"},
		{"duplicate", []File{{Path: "/a/b", Source: bin}, {Path: "/a/b", Source: script}}, nil, "destination /a/b is given twice"},
		{"file is parent", []File{{Path: "/a/b/c", Source: bin}, {Path: "/a/b", Source: bin}}, nil, "destination /a/b is a file (from " + strconv.Quote(bin) + ") but also the parent directory of /a/b/c"},
		{"missing source", []File{{Path: "/a", Source: filepath.Join(dir, "missing")}}, nil, "does not exist"},
		{"empty source", []File{{Path: "/a", Source: ""}}, nil, "source path is empty"},
		{"dangling symlink", []File{{Path: "/a", Source: dangling}}, nil, `is a symlink to "nowhere", which does not exist`},
		{"directory source", []File{{Path: "/a", Source: dir}}, nil, "is a directory"},
		{"device source", []File{{Path: "/a", Source: "/dev/null"}}, nil, "is a character device, not a regular file"},
		{"script with caps", []File{{Path: "/run", Source: script, Caps: mustXattr(capServer)}}, nil, `is a script (it starts with "#!"): the kernel runs its interpreter`},
		{"no revision", []File{{Path: "/a", Source: bin, Caps: &caps.Xattr{Caps: mustXattr(capServer).Caps}}}, nil, "/a: caps: unknown vfs_cap_data revision 0 (want 1, 2 or 3)"},
		{"revision 1 above 31", []File{{Path: "/a", Source: bin, Caps: &caps.Xattr{Revision: 1, Caps: caps.FileCaps{Permitted: caps.MaskOf(32)}}}}, nil, "/a: caps: revision 1 holds capabilities 0..31 only"},
		{"bad owner", []File{{Path: "/a", Source: bin}}, []Option{WithOwner(-1, 0)}, "owner -1:0 is out of range"},
		{"bad mode", []File{{Path: "/a", Source: bin}}, []Option{WithMode(0o10000)}, "mode 010000 is out of range"},
		{"bad mtime", []File{{Path: "/a", Source: bin}}, []Option{WithModTime(-5)}, "mtime -5 is negative"},
		{"bad compression", []File{{Path: "/a", Source: bin}}, []Option{WithCompression("xz")}, `unknown compression "xz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Write(&buf, tc.files, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write error = %v, want it to contain %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing, want none", buf.Len())
			}
			out := filepath.Join(t.TempDir(), "out.tar")
			_, err = WriteFile(out, tc.files, append(tc.opts, WithDescriptorFile(out+".json"))...)
			if err == nil {
				t.Fatal("WriteFile succeeded")
			}
			assertEmptyDir(t, filepath.Dir(out))
		})
	}
	if _, err := Write(io.Discard, []File{{Path: "/run", Source: script, Caps: mustXattr(capServer)}}); !errors.Is(err, ErrScript) {
		t.Errorf("script error = %v, want errors.Is ErrScript", err)
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind: %s", filepath.Join(dir, e.Name()))
	}
}

func TestAllowScripts(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	files := []File{{Path: "/run.sh", Source: script, Caps: mustXattr(capServer)}}
	_, res := writeBytes(t, files, WithAllowScripts(true))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "the kernel ignores file capabilities on scripts") {
		t.Errorf("Warnings = %q, want one about scripts", res.Warnings)
	}
	// Without capabilities a script is just a file.
	_, res = writeBytes(t, []File{{Path: "/run.sh", Source: script}})
	if len(res.Warnings) != 0 {
		t.Errorf("Warnings = %q for a script without capabilities, want none", res.Warnings)
	}
}

func TestWriteRejectsDescriptorOption(t *testing.T) {
	_, err := Write(io.Discard, testFiles(), WithDescriptorFile("x.json"))
	if err == nil || !strings.Contains(err.Error(), "only applies to WriteFile") {
		t.Errorf("Write(WithDescriptorFile) error = %v", err)
	}
}
