package imagemeta

import (
	"errors"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

func TestFileOfRoundTrip(t *testing.T) {
	fc, err := caps.Parse("cap_net_bind_service,cap_net_raw+ep")
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range [][]byte{fc.EncodeV2(), fc.EncodeV3(100000), fc.EncodeV3(1 << 31), {1, 2, 3}} {
		text := Text(raw)
		f, err := fileOf("/x", text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if Text(f.Raw) != text {
			t.Errorf("%s: round trip gives %s", text, Text(f.Raw))
		}
		if strings.HasPrefix(text, "invalid:") != (f.Invalid != "") {
			t.Errorf("%s: Invalid %q", text, f.Invalid)
		}
	}
	for _, bad := range []string{"cap_net_bind_service=ep [rootid=x]", "cap_nope=ep", "invalid:zz", "CAP_NET_RAW=ep"} {
		if _, err := fileOf("/x", bad); err == nil {
			t.Errorf("fileOf(%q) accepted", bad)
		}
	}
}

func TestVerify(t *testing.T) {
	fc, _ := caps.Parse("cap_net_bind_service=ep")
	read := inspect.Image{Layers: []tarfs.Layer{{Index: 0, Files: []tarfs.File{
		{Path: "/lib/server", FinalPath: "/usr/lib/server", Raw: fc.EncodeV2(), Type: "file", ShadowedBy: -1},
		{Path: "/old", FinalPath: "/old", Raw: fc.EncodeV2(), Type: "file", ShadowedBy: 0},
	}}}}
	good := &Metadata{
		Label:  Capabilities{"/usr/lib/server": "cap_net_bind_service=ep"},
		Layers: []Capabilities{{"/lib/server": "cap_net_bind_service=ep", "/old": "cap_net_bind_service=ep"}},
	}
	if err := Verify(good, read); err != nil {
		t.Fatal(err)
	}
	if err := Verify(&Metadata{Label: good.Label, Layers: []Capabilities{nil}}, read); err != nil {
		t.Errorf("a missing annotation (docker save) is not checked: %v", err)
	}
	for name, tc := range map[string]struct {
		md   *Metadata
		want string
	}{
		"forged label":      {&Metadata{Label: Capabilities{"/usr/lib/server": "cap_net_raw=ep"}}, "the config label io.capslayer.capabilities says /usr/lib/server has cap_net_raw=ep, the layers give cap_net_bind_service=ep"},
		"label lists less":  {&Metadata{Label: Capabilities{}}, "the config label io.capslayer.capabilities does not list /usr/lib/server, the layers give it cap_net_bind_service=ep"},
		"label lists more":  {&Metadata{Label: Capabilities{"/usr/lib/server": "cap_net_bind_service=ep", "/bin/x": "cap_sys_admin=ep"}}, "says /bin/x has cap_sys_admin=ep, the layers give it no capability"},
		"forged annotation": {&Metadata{Layers: []Capabilities{{"/lib/server": "cap_net_bind_service=ep"}}}, "the io.capslayer.capabilities annotation of layer 0 does not list /old, layer 0 gives it cap_net_bind_service=ep"},
	} {
		err := Verify(tc.md, read)
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", name, err, tc.want)
		}
	}
}
