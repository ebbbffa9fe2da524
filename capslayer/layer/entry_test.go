package layer

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// tarOf builds a tar from headers; regular files get data "\x7fELF".
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		data := ""
		if h.Typeflag == tar.TypeReg {
			data = "\x7fELF"
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, data)
	}
	tw.Close()
	return buf.Bytes()
}

func withCapRecord(raw []byte) map[string]string {
	return map[string]string{caps.PAXRecordKey: string(raw)}
}

// TestRewriteUnsafeMode: a named entry that is setuid, setgid or
// world-writable is refused as --binary refuses such a --mode, unless
// WithAllowUnsafeMode; the sticky bit is harmless.
func TestRewriteUnsafeMode(t *testing.T) {
	set := []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}}
	for _, tc := range []struct {
		mode int64
		bits string
	}{{0o4755, "setuid"}, {0o2755, "setgid"}, {0o757, "world-writable"}, {0o6777, "setuid, setgid, world-writable"}} {
		in := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", Mode: tc.mode})
		_, _, err := rewriteBytes(t, in, set)
		want := fmt.Sprintf("/bin/ping: capabilities on a setuid, setgid or world-writable file: the input gives it mode %04o, which sets %s, and the layer keeps the mode;", tc.mode, tc.bits)
		if !errors.Is(err, ErrUnsafeMode) || !strings.Contains(err.Error(), want) {
			t.Errorf("mode %04o: error %v, want ErrUnsafeMode with %q", tc.mode, err, want)
		}
		out, res, err := rewriteBytes(t, in, set, WithAllowUnsafeMode(true))
		if err != nil || res.Files[0].Mode != fmt.Sprintf("%04o", tc.mode) {
			t.Fatalf("mode %04o with WithAllowUnsafeMode: %v", tc.mode, err)
		}
		h, _ := tar.NewReader(bytes.NewReader(out)).Next()
		if h.Mode != tc.mode || h.PAXRecords[caps.PAXRecordKey] != string(netRawP) {
			t.Errorf("mode %04o allowed: header %+v", tc.mode, h)
		}
	}
	in := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", Mode: 0o1755})
	if _, _, err := rewriteBytes(t, in, set); err != nil {
		t.Errorf("sticky bit: %v", err)
	}
	// Only named entries are checked: a setuid file the request does not
	// touch is the input's business.
	in = tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "bin/su", Mode: 0o4755}, &tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", Mode: 0o755})
	if _, _, err := rewriteBytes(t, in, set); err != nil {
		t.Errorf("setuid file not named: %v", err)
	}
}

// TestRewriteListsInputCapabilities: the result lists every entry that
// carries capabilities in the output, in archive order, those of the input
// marked as such, hard links included; Files is what inspect reads back.
func TestRewriteListsInputCapabilities(t *testing.T) {
	admin := mustHex("0100000200002000000000000000000000000000") // cap_sys_admin=ep
	in := tarOf(t,
		&tar.Header{Typeflag: tar.TypeDir, Name: "usr/bin/", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/helper", Mode: 0o750, Uid: 7, Gid: 8, Format: tar.FormatPAX, PAXRecords: withCapRecord(admin)},
		&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/ping", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/bsd", Mode: 0o755, Format: tar.FormatPAX,
			PAXRecords: map[string]string{libarchiveRecord: base64.StdEncoding.EncodeToString(netRawP)}},
		&tar.Header{Typeflag: tar.TypeLink, Name: "usr/bin/helper2", Linkname: "usr/bin/helper"},
		&tar.Header{Typeflag: tar.TypeLink, Name: "usr/bin/ping4", Linkname: "usr/bin/ping"},
		&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/plain", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeLink, Name: "usr/bin/plain2", Linkname: "usr/bin/plain"},
	)
	out, res, err := rewriteBytes(t, in, []SetCap{{Path: "/usr/bin/ping", Caps: *mustXattr(netRawP)}})
	if err != nil {
		t.Fatal(err)
	}
	adminHex, rawHex := hex.EncodeToString(admin), hex.EncodeToString(netRawP)
	want := []FileInfo{
		{Path: "/usr/bin/helper", Caps: "cap_sys_admin=ep", Xattr: adminHex, Mode: "0750", UID: 7, GID: 8, Size: 4, Origin: OriginInput},
		{Path: "/usr/bin/ping", Caps: "cap_net_raw=p", Xattr: rawHex, Mode: "0755", Size: 4, Origin: OriginSet},
		{Path: "/usr/bin/bsd", Caps: "cap_net_raw=p", Xattr: rawHex, Mode: "0755", Size: 4, Origin: OriginInput},
		{Path: "/usr/bin/helper2", Caps: "cap_sys_admin=ep", Xattr: adminHex, Mode: "0750", UID: 7, GID: 8, Size: 4, Origin: OriginInput},
		{Path: "/usr/bin/ping4", Caps: "cap_net_raw=p", Xattr: rawHex, Mode: "0755", Size: 4, Origin: OriginSet},
	}
	if !slices.Equal(res.Files, want) {
		t.Errorf("files\n%+v\nwant\n%+v", res.Files, want)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `/usr/bin/ping4, a hard link`) {
		t.Errorf("warnings %q, want only the hard link to the named file", res.Warnings)
	}
	// inspect, capslayer's reader, finds exactly these files.
	found, err := inspect.LayerReader(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range found {
		got[f.Path] = f.Xattr.String()
	}
	wantPaths := map[string]string{}
	for _, f := range want {
		wantPaths[f.Path] = f.Caps
	}
	if !maps.Equal(got, wantPaths) {
		t.Errorf("inspect reads %v, the descriptor lists %v", got, wantPaths)
	}

	// An invalid value elsewhere in the input cannot be listed: refused,
	// with the entry named.
	bad := tarOf(t,
		&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/odd\x1b[2J", Mode: 0o755, Format: tar.FormatPAX, PAXRecords: withCapRecord([]byte("junk"))},
		&tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin/ping", Mode: 0o755})
	_, _, err = rewriteBytes(t, bad, []SetCap{{Path: "/usr/bin/ping", Caps: *mustXattr(netRawP)}})
	if err == nil || !strings.Contains(err.Error(), `/usr/bin/odd\x1b[2J carries a security.capability value that is not valid`) {
		t.Errorf("invalid value in the input: %v", err)
	}
}

// TestRewriteReplaceWarning: replacing other capabilities on a named file
// is a warning naming both; setting the value it already has is not.
func TestRewriteReplaceWarning(t *testing.T) {
	admin := mustHex("0100000200002000000000000000000000000000") // cap_sys_admin=ep
	for _, tc := range []struct {
		name    string
		records map[string]string
		want    string
	}{
		{"other value", withCapRecord(admin), "/bin/ping had the capabilities cap_sys_admin=ep in the input; the layer gives it cap_net_raw=p instead"},
		{"libarchive record", map[string]string{libarchiveRecord: base64.StdEncoding.EncodeToString(admin)}, "/bin/ping had the capabilities cap_sys_admin=ep in the input"},
		{"invalid value", withCapRecord([]byte{1, 2}), "/bin/ping had the capabilities (an invalid value, 0102) in the input"},
		{"same value", withCapRecord(netRawP), ""},
		{"none", nil, ""},
	} {
		in := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", Mode: 0o755, Format: tar.FormatPAX, PAXRecords: tc.records})
		_, res, err := rewriteBytes(t, in, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		switch {
		case tc.want == "" && len(res.Warnings) != 0:
			t.Errorf("%s: warnings %q, want none", tc.name, res.Warnings)
		case tc.want != "" && (len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], tc.want)):
			t.Errorf("%s: warnings %q, want %q", tc.name, res.Warnings, tc.want)
		}
	}
}

// TestSetEntryCaps: the header given back carries the new value and keeps
// everything else; the one passed in is untouched.
func TestSetEntryCaps(t *testing.T) {
	hdr := &tar.Header{Typeflag: tar.TypeRegA, Name: "./bin/ping", Mode: 0o755, Uid: 3, Uname: "u", Size: 9, Format: tar.FormatGNU,
		PAXRecords: map[string]string{libarchiveRecord: base64.StdEncoding.EncodeToString(capServer), "SCHILY.xattr.user.x": "y"}}
	orig := *hdr
	origRecords := maps.Clone(hdr.PAXRecords)
	netRaw, _ := encodeCapability("/bin/ping", mustXattr(netRawP))
	ce, err := setEntryCaps("/bin/ping", hdr, netRaw, &options{replaceCaps: true})
	if err != nil {
		t.Fatal(err)
	}
	h := ce.header
	if h.Typeflag != tar.TypeReg || h.Format != tar.FormatPAX || h.Name != "./bin/ping" || h.Uid != 3 || h.Uname != "u" ||
		!maps.Equal(h.PAXRecords, map[string]string{caps.PAXRecordKey: string(netRawP), "SCHILY.xattr.user.x": "y"}) {
		t.Errorf("header %+v", h)
	}
	if hdr.Typeflag != orig.Typeflag || hdr.Format != orig.Format || !maps.Equal(hdr.PAXRecords, origRecords) {
		t.Errorf("the header passed in changed: %+v", hdr)
	}
	if ce.info != (FileInfo{Path: "/bin/ping", Caps: "cap_net_raw=p", Xattr: hex.EncodeToString(netRawP), Mode: "0755", UID: 3, Size: 9, Origin: OriginSet}) {
		t.Errorf("info %+v", ce.info)
	}
	if want := "/bin/ping had the capabilities cap_net_bind_service=ep in the input; the layer gives it cap_net_raw=p instead"; ce.warning != want {
		t.Errorf("warning %q, want %q", ce.warning, want)
	}
	for _, tc := range []struct {
		hdr  *tar.Header
		o    options
		want string
		is   error
	}{
		{&tar.Header{Typeflag: tar.TypeDir}, options{}, "/bin/x: is a directory", ErrRewrite},
		{&tar.Header{Typeflag: tar.TypeSymlink, Linkname: "../x\x1b[2J"}, options{}, `/bin/x: is a symlink to ../x\x1b[2J in the tar: name the file it points to, /x\x1b[2J`, ErrRewrite},
		{&tar.Header{Typeflag: tar.TypeReg, Mode: 0o4755}, options{}, "/bin/x: capabilities on a setuid, setgid or world-writable file: the input gives it mode 4755, which sets setuid, and the layer keeps the mode", ErrUnsafeMode},
		{&tar.Header{Typeflag: tar.TypeReg, Mode: 0o757}, options{replaceCaps: true}, "which sets world-writable", ErrUnsafeMode},
		{&tar.Header{Typeflag: tar.TypeReg, Format: tar.FormatPAX, PAXRecords: withCapRecord(capServer)}, options{allowUnsafe: true}, "/bin/x: the file already has capabilities in the input (cap_net_bind_service=ep), which would be replaced by cap_net_raw=p", ErrHasCapability},
	} {
		if _, err := setEntryCaps("/bin/x", tc.hdr, netRaw, &tc.o); !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("setEntryCaps(%+v, %+v): %v, want %q", tc.hdr, tc.o, err, tc.want)
		}
	}
	// Allowed, the same value again, and no value.
	for _, hdr := range []*tar.Header{
		{Typeflag: tar.TypeReg, Mode: 0o4755},
		{Typeflag: tar.TypeReg, Format: tar.FormatPAX, PAXRecords: withCapRecord(netRawP)},
	} {
		if ce, err := setEntryCaps("/bin/x", hdr, netRaw, &options{allowUnsafe: true}); err != nil || ce.warning != "" {
			t.Errorf("setEntryCaps(%+v): %v, warning %q", hdr, err, ce.warning)
		}
	}
}

// TestRewriteEntryLimit: a tar with more entries than capslayer's readers
// take is refused while it is read, with the limit named.
func TestRewriteEntryLimit(t *testing.T) {
	if o, _ := makeOptions(nil); o.maxEntries != tarfs.DefaultMaxEntries {
		t.Fatalf("default limit %d, want inspect's %d", o.maxEntries, tarfs.DefaultMaxEntries)
	}
	limit := func(n int) Option { return func(o *options) error { o.maxEntries = n; return nil } }
	var hdrs []*tar.Header
	for i := range 5 {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("f%d", i), Mode: 0o755})
	}
	in := tarOf(t, hdrs...)
	set := []SetCap{{Path: "/f0", Caps: *mustXattr(netRawP)}}
	if _, _, err := rewriteBytes(t, in, set, limit(5)); err != nil {
		t.Errorf("5 entries, limit 5: %v", err)
	}
	_, _, err := rewriteBytes(t, in, set, limit(4))
	if !errors.Is(err, tarfs.ErrLimit) || !strings.Contains(err.Error(), "more than 4 entries") {
		t.Errorf("5 entries, limit 4: %v", err)
	}
}

// TestRewriteEntryLimitDefault runs the default limit for real: a tar of
// one entry more than tarfs.DefaultMaxEntries, which inspect refuses, is
// refused with the limit named. (TestRewriteEntryLimit checks the boundary.)
func TestRewriteEntryLimitDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a tar of a million entries")
	}
	n := tarfs.DefaultMaxEntries + 1
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", Mode: 0o755, Size: 4})
		tw.Write([]byte("\x7fELF"))
		for i := 1; i < n; i++ {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("d/%d/", i), Mode: 0o755})
		}
		pw.CloseWithError(tw.Close())
	}()
	_, err := Rewrite(io.Discard, pr, []SetCap{{Path: "/bin/ping", Caps: *mustXattr(netRawP)}})
	pr.Close()
	if !errors.Is(err, tarfs.ErrLimit) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d entries", tarfs.DefaultMaxEntries)) {
		t.Errorf("%d entries: %v, want the limit named", n, err)
	}
}
