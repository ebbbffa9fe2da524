package imagemeta

import (
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
)

func TestText(t *testing.T) {
	fc, err := caps.Parse("cap_net_bind_service=ep")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		raw  []byte
		want string
	}{
		{fc.EncodeV2(), "cap_net_bind_service=ep"},
		{fc.EncodeV3(100000), "cap_net_bind_service=ep [rootid=100000]"},
		{[]byte{1, 2, 3}, "invalid:010203"},
		{nil, "invalid:"},
	} {
		if got := Text(tc.raw); got != tc.want {
			t.Errorf("Text(%x) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestEncodeSortedAndParsed(t *testing.T) {
	c := Capabilities{"/z/b": "cap_kill=ep", "/a": "cap_net_raw=p", "/a/<&>": "cap_chown=ep"}
	want := `{"/a":"cap_net_raw=p","/a/<&>":"cap_chown=ep","/z/b":"cap_kill=ep"}`
	for i := 0; i < 20; i++ { // map order must not leak
		if got := c.Encode(); got != want {
			t.Fatalf("Encode = %s, want %s", got, want)
		}
	}
	back, err := Parse(want)
	if err != nil || len(back) != 3 || back["/a/<&>"] != "cap_chown=ep" {
		t.Fatalf("Parse = %v, %v", back, err)
	}
	if got := (Capabilities{}).Encode(); got != "{}" {
		t.Errorf("empty: %s", got)
	}
	if got := Capabilities(nil).Encode(); got != "{}" {
		t.Errorf("nil: %s", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for in, want := range map[string]string{
		``:                             "not a JSON object",
		`null`:                         "not a JSON object",
		`[]`:                           "not a JSON object",
		`{"/a":1}`:                     "not a JSON object",
		`{"a":"cap_kill=ep"}`:          `"a" is not absolute`,
		`{"/a/../b":"cap_kill=ep"}`:    "not absolute and clean",
		`{"/a/":"cap_kill=ep"}`:        "not absolute and clean",
		`{"/":"cap_kill=ep"}`:          "not absolute and clean",
		`{"/a":""}`:                    "empty capability text",
		`{"/a":"cap_kill=ep"} {}`:      "data after",
		strings.Repeat(" ", 300) + `x`: "(301 bytes)",
	} {
		_, err := Parse(in)
		if err == nil || !strings.HasPrefix(err.Error(), "imagemeta: ") || strings.Count(err.Error(), "imagemeta: ") != 1 || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}
