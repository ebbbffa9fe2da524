package layer

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
)

var netRawP = mustHex("0000000200200000000000000000000000000000") // cap_net_raw=p

// fixture is a tar with one entry of every kind Rewrite must copy, and
// /bin/ping, whose bytes are at [start, end).
func fixture(t *testing.T) (b []byte, start, end int) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	add := func(h *tar.Header, data string) {
		h.ModTime = mt
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
		tw.Flush()
	}
	long := "usr/share/" + strings.Repeat("long-name-", 20) + "/file"
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}, "")
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "./bin/", Mode: 0o755, Uname: "root", Gname: "root"}, "")
	start = buf.Len()
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "./bin/ping", Mode: 0o4755, Uid: 0, Gid: 0, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.user.note": "kept", "SCHILY.xattr.security.capability": string(mustHex("0100000200040000000000000000000000000000")), "LIBARCHIVE.xattr.security.capability": "AQAAAgAEAAAAAAAAAAAAAAAAAAA"}},
		"\x7fELF ping binary")
	end = buf.Len()
	add(&tar.Header{Typeflag: tar.TypeLink, Name: "./bin/ping4", Linkname: "./bin/ping"}, "")
	add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin/ping6", Linkname: "ping"}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "./bin/.wh.old", Mode: 0o644}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "./" + long, Mode: 0o644, Format: tar.FormatGNU}, "long")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "./etc/motd", Mode: 0o644, Uid: 1000, Gid: 1000, Uname: "user", Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.user.x": "y"}}, "hello\n")
	add(&tar.Header{Typeflag: tar.TypeFifo, Name: "./run/fifo", Mode: 0o600}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "./bin/script", Mode: 0o755}, "#!/bin/sh\n")
	tw.Close()
	// GNU tar pads archives to a 10 KiB record.
	buf.Write(make([]byte, 10240-buf.Len()%10240))
	return buf.Bytes(), start, end
}

func rewriteBytes(t *testing.T, in []byte, sets []SetCap, opts ...Option) ([]byte, *Result, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := Rewrite(&out, bytes.NewReader(in), sets, opts...)
	return out.Bytes(), res, err
}

// TestRewriteCopiesEveryOtherByte: all bytes before and after /bin/ping's
// entry are the input's; /bin/ping keeps its header fields, other xattrs
// and contents, with the new capability and no stale LIBARCHIVE copy.
func TestRewriteCopiesEveryOtherByte(t *testing.T) {
	in, start, end := fixture(t)
	unsafe := WithAllowUnsafeMode(true) // /bin/ping is setuid
	out, res, err := rewriteBytes(t, in, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}, unsafe)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, in[:start]) || !bytes.HasSuffix(out, in[end:]) {
		t.Fatalf("the bytes around /bin/ping changed")
	}
	if len(out)%512 != 0 {
		t.Fatalf("output of %d bytes is not in 512-byte blocks", len(out))
	}
	tr := tar.NewReader(bytes.NewReader(out))
	var n int
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		n++
		if h.Name != "./bin/ping" {
			continue
		}
		data := new(bytes.Buffer)
		data.ReadFrom(tr)
		if h.PAXRecords[caps.PAXRecordKey] != string(netRawP) || h.PAXRecords["SCHILY.xattr.user.note"] != "kept" ||
			h.PAXRecords["LIBARCHIVE.xattr.security.capability"] != "" || h.Mode != 0o4755 || !h.ModTime.Equal(time.Unix(1700000000, 0)) || data.String() != "\x7fELF ping binary" {
			t.Errorf("/bin/ping header %+v, data %q", h, data)
		}
	}
	if n != 10 {
		t.Errorf("%d entries, want 10", n)
	}
	want := []FileInfo{
		{Path: "/bin/ping", Caps: "cap_net_raw=p", Xattr: hex.EncodeToString(netRawP), Mode: "4755", Size: 16, Origin: OriginSet},
		{Path: "/bin/ping4", Caps: "cap_net_raw=p", Xattr: hex.EncodeToString(netRawP), Mode: "4755", Size: 16, Origin: OriginSet},
	}
	if !slices.Equal(res.Files, want) {
		t.Errorf("descriptor files\n%+v\nwant\n%+v", res.Files, want)
	}
	if len(res.Warnings) != 2 || res.Warnings[0] != "/bin/ping had the capabilities cap_net_bind_service=ep in the input; the layer gives it cap_net_raw=p instead" ||
		res.Warnings[1] != `/bin/ping is also in the image as /bin/ping4, a hard link to it, which gets the same capabilities` {
		t.Errorf("warnings %q, want the replaced value and the hard link /bin/ping4", res.Warnings)
	}
	if res.Digest != res.DiffID || res.Size != int64(len(out)) {
		t.Errorf("descriptor %+v for %d bytes", res.Descriptor, len(out))
	}
	// Deterministic, and the same from compressed inputs.
	for _, c := range []Compression{None, Gzip, Zstd} {
		var z bytes.Buffer
		zw, _ := compression.NewWriter(&z, c)
		zw.Write(in)
		zw.Close()
		again, _, err := rewriteBytes(t, z.Bytes(), []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}, unsafe)
		if err != nil || !bytes.Equal(again, out) {
			t.Errorf("%s input: %v, output differs: %v", c, err, !bytes.Equal(again, out))
		}
	}
	// Compressed output: the same tar inside.
	gz, gres, err := rewriteBytes(t, in, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}, WithCompression(Gzip), unsafe)
	if err != nil || gres.DiffID != res.DiffID || !bytes.Equal(decompress(t, Gzip, gz), out) {
		t.Errorf("gzip output: %v, diff_id %s want %s", err, gres.DiffID, res.DiffID)
	}
}

func TestRewriteRefuses(t *testing.T) {
	in, _, end := fixture(t)
	set := func(p string) []SetCap { return []SetCap{{Path: p, Caps: *mustXattr(netRawP)}} }
	for _, tc := range []struct {
		name string
		in   []byte
		sets []SetCap
		want string
	}{
		{"missing path", in, set("/bin/nope"), "/bin/nope: is not in the tar"},
		{"directory", in, set("/bin"), "/bin: is a directory in the tar"},
		{"symlink", in, set("/bin/ping6"), `/bin/ping6: is a symlink to ping in the tar: name the file it points to, /bin/ping`},
		{"hard link", in, set("/bin/ping4"), `/bin/ping4: is a hard link to /bin/ping, an earlier entry of the tar: name /bin/ping instead`},
		{"fifo", in, set("/run/fifo"), "/run/fifo: is a named pipe in the tar"},
		{"named twice", in, append(set("/bin/ping"), set("/bin/ping")...), "/bin/ping: is named twice"},
		{"whiteout", in, set("/bin/.wh.old"), "whiteout name"},
		{"script", in, set("/bin/script"), "is a script"},
		{"truncated", in[:end], set("/bin/ping"), "end-of-archive marker (two zero blocks) is missing"},
		{"concatenated tars", append(append([]byte(nil), in...), in...), set("/bin/ping"), "data follows the end-of-archive marker"},
		{"no set", in, nil, "no file named"},
		{"no revision", in, []SetCap{{Path: "/bin/ping"}}, "/bin/ping: caps: unknown vfs_cap_data revision 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := rewriteBytes(t, tc.in, tc.sets, WithAllowUnsafeMode(true))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// The same entry twice in the tar.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for range 2 {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", Size: 1, Mode: 0o755})
		tw.Write([]byte("x"))
	}
	tw.Close()
	if _, _, err := rewriteBytes(t, buf.Bytes(), set("/bin/ping")); !errors.Is(err, ErrRewrite) || !strings.Contains(err.Error(), "appears twice in the tar (entries 1 and 2") {
		t.Errorf("twice in the tar: %v", err)
	}
	if _, _, err := rewriteBytes(t, in, set("/bin/script"), WithAllowScripts(true)); err != nil {
		t.Errorf("script with WithAllowScripts: %v", err)
	}
}

// TestRewriteFileWritesNothingOnError: a failed rewrite leaves the old
// output and descriptor and no temporary file.
func TestRewriteFileWritesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	in, _, _ := fixture(t)
	inPath := filepath.Join(dir, "in.tar")
	os.WriteFile(inPath, in, 0o644)
	out, desc := filepath.Join(dir, "out.tar"), filepath.Join(dir, "out.json")
	if _, err := RewriteFile(out, inPath, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}, WithDescriptorFile(desc), WithAllowUnsafeMode(true)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(out)
	if _, err := RewriteFile(out, inPath, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}, {Path: "/bin/nope", Caps: *mustXattr(netRawP)}}, WithDescriptorFile(desc)); err == nil {
		t.Fatal("missing path accepted")
	}
	after, _ := os.ReadFile(out)
	ents, _ := os.ReadDir(dir)
	if !bytes.Equal(before, after) || len(ents) != 3 {
		t.Errorf("after a failed rewrite: output changed %v, directory holds %d entries", !bytes.Equal(before, after), len(ents))
	}
	if _, err := RewriteFile(inPath, inPath, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}); err == nil || !strings.Contains(err.Error(), "is also the output") {
		t.Errorf("in place: %v", err)
	}
	if _, err := RewriteFile(out, inPath, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}, WithMode(0o700)); err == nil {
		t.Error("WithMode accepted by RewriteFile")
	}
}
