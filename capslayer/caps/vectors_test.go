package caps

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vector is one line of testdata/vectors.tsv: what the real setcap and
// getcap did with a text (see testdata/gen.sh for the exact commands).
type vector struct {
	line   int
	rootID uint32
	text   string
	ok     bool
	value  []byte // the security.capability bytes setcap wrote
	getcap string // what getcap printed after the file name
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			t.Fatalf("vectors.tsv:%d: want at least 3 tab-separated fields, got %q", n, line)
		}
		root, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			t.Fatalf("vectors.tsv:%d: rootid: %v", n, err)
		}
		v := vector{line: n, rootID: uint32(root), text: f[1]}
		if v.text == "<empty>" {
			v.text = ""
		}
		switch f[2] {
		case "ok":
			if len(f) != 5 {
				t.Fatalf("vectors.tsv:%d: an ok line has 5 fields, got %d", n, len(f))
			}
			v.ok = true
			if v.value, err = hex.DecodeString(f[3]); err != nil {
				t.Fatalf("vectors.tsv:%d: %v", n, err)
			}
			v.getcap = f[4]
		case "rejected":
		default:
			t.Fatalf("vectors.tsv:%d: result %q is neither ok nor rejected", n, f[2])
		}
		vs = append(vs, v)
	}
	if len(vs) < 150 {
		t.Fatalf("vectors.tsv has only %d vectors", len(vs))
	}
	return vs
}

// parseOnly lists the texts setcap rejects that Parse accepts on
// purpose, with the canonical text Parse gives them.
var parseOnly = map[string]string{
	"bpf=ep":              "cap_bpf=ep",
	"net_bind_service=ep": "cap_net_bind_service=ep",
	"NET_BIND_SERVICE":    "cap_net_bind_service=p",
	"cap_chown":           "cap_chown=p",
	"- cap_chown=p":       "cap_chown=p",
}

// TestVectors checks ParseSetcap, Parse, String, EncodeV2, EncodeV3 and
// Decode against every text recorded from the real setcap and getcap.
func TestVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		f, err := ParseSetcap(v.text)
		if !v.ok {
			if err == nil {
				t.Errorf("vectors.tsv:%d: ParseSetcap(%q) = %v, but setcap rejects it", v.line, v.text, f)
			}
			pf, perr := Parse(v.text)
			if want, ok := parseOnly[v.text]; ok {
				if perr != nil || pf.String() != want {
					t.Errorf("vectors.tsv:%d: Parse(%q) = %q, %v; want %q", v.line, v.text, pf.String(), perr, want)
				}
			} else if perr == nil {
				t.Errorf("vectors.tsv:%d: Parse(%q) = %v, but setcap rejects it", v.line, v.text, pf)
			}
			continue
		}
		if err != nil {
			t.Errorf("vectors.tsv:%d: ParseSetcap(%q): %v; setcap accepts it", v.line, v.text, err)
			continue
		}
		var got []byte
		if v.rootID != 0 {
			got = f.EncodeV3(v.rootID)
		} else {
			got = f.EncodeV2()
		}
		if !bytes.Equal(got, v.value) {
			t.Errorf("vectors.tsv:%d: %q encodes to\n%x, setcap wrote\n%x", v.line, v.text, got, v.value)
		}
		if s := f.String(); s != v.getcap {
			t.Errorf("vectors.tsv:%d: ParseSetcap(%q).String() = %q, getcap prints %q", v.line, v.text, s, v.getcap)
		}
		x, err := Decode(v.value)
		if err != nil {
			t.Errorf("vectors.tsv:%d: Decode(%x): %v", v.line, v.value, err)
			continue
		}
		if x.Caps != f || x.RootID != v.rootID || (v.rootID != 0) != (x.Revision == 3) {
			t.Errorf("vectors.tsv:%d: Decode(%x) = %+v, want caps %+v rootid %d", v.line, v.value, x, f, v.rootID)
		}
		if s := x.Caps.String(); s != v.getcap {
			t.Errorf("vectors.tsv:%d: Decode(%x).Caps.String() = %q, getcap prints %q", v.line, v.value, s, v.getcap)
		}
		if b, err := x.Encode(); err != nil || !bytes.Equal(b, v.value) {
			t.Errorf("vectors.tsv:%d: Decode(%x).Encode() = %x, %v", v.line, v.value, b, err)
		}
		// Parse accepts everything setcap accepts, with the same
		// meaning, except results that grant nothing.
		pf, perr := Parse(v.text)
		switch {
		case f.IsEmpty() && perr == nil:
			t.Errorf("vectors.tsv:%d: Parse(%q) = %v; want an error for an empty result", v.line, v.text, pf)
		case !f.IsEmpty() && (perr != nil || pf != f):
			t.Errorf("vectors.tsv:%d: Parse(%q) = %+v, %v; want %+v", v.line, v.text, pf, perr, f)
		}
		// The canonical text reads back to the same value.
		if !f.IsEmpty() {
			back, err := ParseSetcap(v.getcap)
			if err != nil || back != f {
				t.Errorf("vectors.tsv:%d: ParseSetcap(%q) = %+v, %v; want %+v", v.line, v.getcap, back, err, f)
			}
		}
	}
}
