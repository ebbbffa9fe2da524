package inspect

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// netBindEP is cap_net_bind_service=ep as setcap writes it (revision 2),
// the value getfattr -e hex prints on this machine.
var netBindEP = mustHex("0100000200040000000000000000000000000000")

// netBindP is cap_net_bind_service=p: its first byte is NUL.
var netBindP = mustHex("0000000200040000000000000000000000000000")

// netRawEPv3 is cap_net_raw=ep, revision 3 with rootid 100000.
var netRawEPv3 = mustHex("0100000300200000000000000000000000000000a0860100")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// entry describes one tar member for makeTar.
type entry struct {
	name  string
	typ   byte
	body  string
	link  string
	xattr []byte // security.capability value, nil for none
	mode  int64
	uid   int
}

func file(name, body string, xattr []byte) entry {
	return entry{name: name, typ: tar.TypeReg, body: body, xattr: xattr, mode: 0o755}
}

func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }

func makeTar(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Linkname: e.link, Uid: e.uid}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if e.xattr != nil {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(e.xattr)}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
