package caps

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse and ParseSetcap never panic, that errors
// point into the text, and that whatever they accept survives the round
// trips text -> FileCaps -> canonical text and FileCaps -> bytes ->
// FileCaps. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("cap_net_bind_service=ep")
	f.Add("- NET_RAW\n- BPF")
	f.Fuzz(func(t *testing.T, text string) {
		checkErr := func(err error) {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Text != text || pe.Msg == "" {
				t.Fatalf("ParseError %+v for %q", pe, text)
			}
			if pe.Offset >= 0 && !strings.HasPrefix(text[pe.Offset:], pe.Token) {
				t.Fatalf("ParseError for %q: Token %q not at Offset %d", text, pe.Token, pe.Offset)
			}
			if pe.Offset >= 0 && pe.Token == "" {
				t.Fatalf("ParseError for %q: empty Token at Offset %d", text, pe.Offset)
			}
		}
		strict, serr := ParseSetcap(text)
		if serr != nil {
			checkErr(serr)
		}
		fc, err := Parse(text)
		if err != nil {
			checkErr(err)
			if serr == nil && !strict.IsEmpty() {
				t.Fatalf("ParseSetcap(%q) = %+v but Parse fails: %v", text, strict, err)
			}
			return
		}
		if fc.IsEmpty() {
			t.Fatalf("Parse(%q) accepted an empty result %+v", text, fc)
		}
		if serr == nil && strict != fc {
			t.Fatalf("Parse(%q) = %+v, ParseSetcap = %+v", text, fc, strict)
		}
		canonical := fc.String()
		for name, parse := range map[string]func(string) (FileCaps, error){"Parse": Parse, "ParseSetcap": ParseSetcap} {
			back, err := parse(canonical)
			if err != nil || back != fc {
				t.Fatalf("%s(%q) (canonical text of %q) = %+v, %v; want %+v", name, canonical, text, back, err, fc)
			}
		}
		for _, b := range [][]byte{fc.EncodeV2(), fc.EncodeV3(1000)} {
			x, err := Decode(b)
			if err != nil || x.Caps != fc {
				t.Fatalf("Decode(%x) = %+v, %v; want %+v", b, x, err, fc)
			}
		}
	})
}

// FuzzDecode checks that Decode never panics, and that every value it
// accepts encodes back to the same bytes and has a canonical text that
// parses back to the same capabilities. Seeds are in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := Decode(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "caps: ") {
				t.Fatalf("Decode error %q lacks the package prefix", err)
			}
			return
		}
		back, err := x.Encode()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("Decode(%x).Encode() = %x, %v", b, back, err)
		}
		if x.Revision == 2 && !bytes.Equal(x.Caps.EncodeV2(), b) {
			t.Fatalf("EncodeV2 of Decode(%x) = %x", b, x.Caps.EncodeV2())
		}
		if x.Revision == 3 && !bytes.Equal(x.Caps.EncodeV3(x.RootID), b) {
			t.Fatalf("EncodeV3 of Decode(%x) = %x", b, x.Caps.EncodeV3(x.RootID))
		}
		text := x.Caps.String()
		fc, err := ParseSetcap(text)
		if err != nil {
			t.Fatalf("ParseSetcap(%q) (text of %x): %v", text, b, err)
		}
		want := x.Caps
		if want.IsEmpty() {
			want.Effective = false // the text of an empty set loses the effective bit, as in getcap
		}
		if fc != want {
			t.Fatalf("ParseSetcap(%q) (text of %x) = %+v, want %+v", text, b, fc, want)
		}
	})
}
