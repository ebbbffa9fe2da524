package inspect

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	"github.com/capslayer/rules_capslayer/internal/testenv"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestLayerReaderFiles(t *testing.T) {
	tb := makeTar(t,
		dir("app/"),
		file("app/server", "ELF", netBindEP),
		file("./app/plain", "x", nil),
		file("/usr/bin/ping", "ELF2", netRawEPv3),
		file("app/promote", "p", netBindP),
		entry{Name: "app/link", Type: tar.TypeLink, Link: "app/server", Mode: 0o755},
		file("app/broken", "b", []byte{0x01, 0x02, 0x03}),
	)
	files, err := LayerReader(bytes.NewReader(tb))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, fmt.Sprintf("%s %s %x %q %s %o L%d S%d", f.Path, f.Type, f.Raw, f.Xattr.String(), f.Link, f.Mode, f.Layer, f.ShadowedBy))
	}
	want := []string{
		`/app/server file 0100000200040000000000000000000000000000 "cap_net_bind_service=ep"  755 L0 S-1`,
		`/usr/bin/ping file 0100000300200000000000000000000000000000a0860100 "cap_net_raw=ep [rootid=100000]"  755 L0 S-1`,
		`/app/promote file 0000000200040000000000000000000000000000 "cap_net_bind_service=p"  755 L0 S-1`,
		`/app/link hardlink 0100000200040000000000000000000000000000 "cap_net_bind_service=ep" /app/server 755 L0 S-1`,
		`/app/broken file 010203 "=" (from Xattr zero value)  755 L0 S-1`,
	}
	// The zero Xattr prints as whatever caps says for "no capabilities";
	// compare that entry by its Invalid text instead.
	if len(got) != len(want) {
		t.Fatalf("got %d files:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := 0; i < 4; i++ {
		if got[i] != want[i] {
			t.Errorf("file %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	b := files[4]
	if b.Path != "/app/broken" || !bytes.Equal(b.Raw, []byte{1, 2, 3}) || !strings.Contains(b.Invalid, "3 bytes") || b.Xattr != (caps.Xattr{}) {
		t.Errorf("broken value: %+v", b)
	}
	for _, f := range files[:4] {
		if f.Invalid != "" {
			t.Errorf("%s: unexpected Invalid %q", f.Path, f.Invalid)
		}
	}
}

func TestLayerReaderCompressions(t *testing.T) {
	tb := makeTar(t, file("app/server", "ELF", netBindEP))
	for name, b := range map[string][]byte{
		"none": tb,
		"gzip": gzipBytes(t, tb),
		"zstd": zstdBytes(t, tb),
	} {
		t.Run(name, func(t *testing.T) {
			var files []tarfs.File
			st, err := tarfs.Walk(bytes.NewReader(b), func(p string, hdr *tar.Header) error {
				if f, ok := tarfs.FileFromHeader(p, hdr); ok {
					files = append(files, f)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if string(st.Compression) != name || st.Digest != sha(b) || st.DiffID != sha(tb) || st.Size != int64(len(b)) || st.Entries != 1 {
				t.Errorf("stream %+v; want compression %s digest %s diffid %s size %d", st, name, sha(b), sha(tb), len(b))
			}
			if len(files) != 1 || !bytes.Equal(files[0].Raw, netBindEP) {
				t.Errorf("files %+v", files)
			}
		})
	}
}

func TestLibarchiveRecord(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/x", Typeflag: tar.TypeReg, Mode: 0o755, PAXRecords: map[string]string{
		"LIBARCHIVE.xattr.security.capability": base64.StdEncoding.EncodeToString(netBindEP),
	}})
	tw.Close()
	files, err := LayerReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !bytes.Equal(files[0].Raw, netBindEP) || files[0].Xattr.String() != "cap_net_bind_service=ep" {
		t.Fatalf("files %+v", files)
	}
}

func TestLayerReaderHostile(t *testing.T) {
	good := makeTar(t, file("app/server", strings.Repeat("x", 4000), netBindEP))
	bomb := gzipBytes(t, makeTar(t, file("zeros", strings.Repeat("\x00", 8<<20), nil)))
	many := makeTar(t, file("a", "", nil), file("b", "", nil), file("c", "", nil))
	var hugePAX bytes.Buffer
	{
		// A PAX header larger than archive/tar's 1 MiB cap.
		tw := tar.NewWriter(&hugePAX)
		tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.big": strings.Repeat("A", 2<<20)}})
		tw.Close()
	}
	for _, tc := range []struct {
		name string
		in   []byte
		opts []tarfs.Option
		want string
	}{
		{"traversal", makeTar(t, file("../../etc/passwd", "x", netBindEP)), nil, "escapes the image root"},
		{"traversal inside", makeTar(t, file("app/../../x", "x", nil)), nil, "escapes the image root"},
		{"hardlink traversal", makeTar(t, file("a", "x", netBindEP), entry{Name: "b", Type: tar.TypeLink, Link: "../a"}), nil, "escapes the image root"},
		{"truncated", good[:1000], nil, "truncated"},
		{"truncated gzip", gzipBytes(t, good)[:60], nil, "unexpected EOF"},
		{"not a tar", []byte(strings.Repeat("hello world\n", 100)), nil, "not a tar archive"},
		{"empty", nil, nil, "empty input"},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, nil, "xz"},
		{"entries", many, []tarfs.Option{tarfs.WithMaxEntries(2)}, "more than 2 entries"},
		{"bomb", bomb, []tarfs.Option{tarfs.WithMaxLayerSize(1 << 20)}, "decompression bomb"},
		{"huge pax", hugePAX.Bytes(), nil, "not a tar archive"},
		{"long name", makeTar(t, file(strings.Repeat("a/", 3000)+"x", "x", nil)), nil, "at most 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LayerReader(bytes.NewReader(tc.in), tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(tc.want, "more than") && !errors.Is(err, tarfs.ErrLimit) {
				t.Errorf("error %v does not wrap tarfs.ErrLimit", err)
			}
		})
	}
	// Absolute names are fine (ko writes /ko-app/x).
	files, err := LayerReader(bytes.NewReader(makeTar(t, file("/ko-app/x", "x", netBindEP))))
	if err != nil || len(files) != 1 || files[0].Path != "/ko-app/x" {
		t.Fatalf("absolute name: %v %+v", err, files)
	}
}

func TestShadowingWithinLayer(t *testing.T) {
	files, err := LayerReader(bytes.NewReader(makeTar(t,
		file("app/server", "v1", netBindEP),
		file("app/server", "v2", nil),
		file("opt/tool", "t", netBindEP),
	)))
	if err != nil {
		t.Fatal(err)
	}
	got := []int{files[0].ShadowedBy, files[1].ShadowedBy}
	if !reflect.DeepEqual(got, []int{0, -1}) || files[1].Path != "/opt/tool" {
		t.Fatalf("got %v %+v", got, files)
	}
}

// TestGNUTarRoundTrip sets a capability with the real setcap, archives the
// file with GNU tar --xattrs and checks that LayerReader returns exactly the
// bytes getfattr reads from the disk.
func TestGNUTarRoundTrip(t *testing.T) {
	for _, tool := range []string{"setcap", "getfattr", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "setcap needs root")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "root", "app", "server")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"cap_net_bind_service=ep", "cap_net_raw,cap_chown=p", "cap_sys_admin+eip"} {
		if out, err := exec.Command("setcap", text, bin).CombinedOutput(); err != nil {
			testenv.SkipOrFail(t, "setcap failed (filesystem without xattrs?): %v %s", err, out)
		}
		want, err := exec.Command("getfattr", "--absolute-names", "--only-values", "-n", "security.capability", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "layer.tar")
		if b, err := exec.Command("tar", "--xattrs", "--xattrs-include=security.capability", "--format=posix", "-C", filepath.Join(dir, "root"), "-cf", out, "app").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, b)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		files, err := LayerReader(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].Path != "/app/server" || !bytes.Equal(files[0].Raw, want) {
			t.Fatalf("%s: got %+v, want raw %x", text, files, want)
		}
		getcap, _ := exec.Command("getcap", bin).Output()
		if g := strings.TrimSpace(string(getcap)); !strings.HasSuffix(g, " "+files[0].Xattr.String()) {
			t.Errorf("getcap prints %q, we decode %q", g, files[0].Xattr.String())
		}
	}
}
