package caps

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	m := MaskOf(0, 10, 39, 63, 64, -1)
	if want := Mask(1 | 1<<10 | 1<<39 | 1<<63); m != want {
		t.Fatalf("MaskOf = %#x, want %#x", uint64(m), uint64(want))
	}
	for c, want := range map[int]bool{0: true, 10: true, 39: true, 63: true, 1: false, 40: false, 64: false, -1: false} {
		if m.Has(c) != want {
			t.Errorf("Has(%d) = %v, want %v", c, !want, want)
		}
	}
	if got, want := m.List(), []int{0, 10, 39, 63}; !reflect.DeepEqual(got, want) {
		t.Errorf("List() = %v, want %v", got, want)
	}
	if got, want := m.Names(), []string{"cap_chown", "cap_net_bind_service", "cap_bpf", "63"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got, want := m.String(), "cap_chown,cap_net_bind_service,cap_bpf,63"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := Mask(0).List(); got == nil || len(got) != 0 {
		t.Errorf("Mask(0).List() = %#v, want an empty slice", got)
	}
	if AllNamed != 0x1ffffffffff || len(AllNamed.List()) != NamedCount || NamedCount != 41 {
		t.Errorf("AllNamed = %#x, NamedCount %d", uint64(AllNamed), NamedCount)
	}
}

func TestNameLookup(t *testing.T) {
	for c := 0; c < NamedCount; c++ {
		name := Name(c)
		if !strings.HasPrefix(name, "cap_") || strings.ToLower(name) != name {
			t.Errorf("Name(%d) = %q", c, name)
		}
		bare := strings.TrimPrefix(name, "cap_")
		for _, spelling := range []string{name, strings.ToUpper(name), bare, strings.ToUpper(bare), "Cap_" + bare} {
			if got, ok := Lookup(spelling); !ok || got != c {
				t.Errorf("Lookup(%q) = %d, %v; want %d", spelling, got, ok, c)
			}
		}
	}
	for c, want := range map[int]string{0: "cap_chown", 10: "cap_net_bind_service", 40: "cap_checkpoint_restore", 41: "41", 63: "63"} {
		if got := Name(c); got != want {
			t.Errorf("Name(%d) = %q, want %q", c, got, want)
		}
	}
	for _, bad := range []string{"", "cap_", "all", "ALL", "10", "cap_10", "cap_cap_chown", "net-raw", "chown ", "NET_BIND_SERVCE"} {
		if c, ok := Lookup(bad); ok {
			t.Errorf("Lookup(%q) = %d, want not found", bad, c)
		}
	}
}

func TestFileCaps(t *testing.T) {
	f := FileCaps{Permitted: MaskOf(0, 5), Inheritable: MaskOf(5, 7)}
	if f.All() != MaskOf(0, 5, 7) || f.IsEmpty() {
		t.Errorf("%+v: All %v, IsEmpty %v", f, f.All(), f.IsEmpty())
	}
	if !(FileCaps{Effective: true}).IsEmpty() || !(FileCaps{}).IsEmpty() {
		t.Error("IsEmpty is false for a FileCaps without permitted and inheritable bits")
	}
}

// TestString covers the shapes of getcap's text; vectors.tsv and
// TestAgainstSetcap compare many more with the real getcap.
func TestString(t *testing.T) {
	p := func(c ...int) Mask { return MaskOf(c...) }
	for _, tc := range []struct {
		f    FileCaps
		want string
	}{
		{FileCaps{}, "="},
		{FileCaps{Effective: true}, "="},
		{FileCaps{Permitted: p(10), Effective: true}, "cap_net_bind_service=ep"},
		{FileCaps{Permitted: p(0, 5)}, "cap_chown,cap_kill=p"},
		{FileCaps{Permitted: p(0, 5), Inheritable: p(0), Effective: true}, "cap_chown=eip cap_kill+ep"},
		{FileCaps{Permitted: p(0), Inheritable: p(5)}, "cap_kill=i cap_chown+p"},
		{FileCaps{Permitted: AllNamed, Effective: true}, "=ep"},
		{FileCaps{Permitted: AllNamed &^ p(0)}, "=p cap_chown-p"},
		{FileCaps{Permitted: AllNamed | p(41, 63), Inheritable: p(63)}, "=p 63+ip 41+p"},
		{FileCaps{Permitted: p(63)}, "= 63+p"},
		{FileCaps{Permitted: p(1), Inheritable: p(41)}, "cap_dac_override=p 41+i"},
		// 20 of 41 named caps set: the unset state still wins the tie-free histogram.
		{FileCaps{Permitted: Mask(1<<20 - 1)}, strings.Join(Mask(1<<20-1).Names(), ",") + "=p"},
		// 21 of 41 set: "=p" becomes the default.
		{FileCaps{Permitted: Mask(1<<21 - 1)}, "=p " + strings.Join((AllNamed&^(1<<21-1)).Names(), ",") + "-p"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.f, got, tc.want)
		}
		if tc.f.IsEmpty() {
			continue
		}
		back, err := ParseSetcap(tc.f.String())
		if err != nil || back != tc.f {
			t.Errorf("ParseSetcap(%q) = %+v, %v; want %+v", tc.f.String(), back, err, tc.f)
		}
	}
}

func TestDockerName(t *testing.T) {
	for c, want := range map[int]string{0: "CHOWN", 10: "NET_BIND_SERVICE", 40: "CHECKPOINT_RESTORE", 41: "41", 63: "63"} {
		if got := DockerName(c); got != want {
			t.Errorf("DockerName(%d) = %q, want %q", c, got, want)
		}
	}
	if got, want := MaskOf(10, 0, 63).DockerNames(), []string{"CHOWN", "NET_BIND_SERVICE", "63"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DockerNames() = %q, want %q", got, want)
	}
	if got := Mask(0).DockerNames(); got != nil {
		t.Errorf("Mask(0).DockerNames() = %q, want nil", got)
	}
}

func TestProcessCapsString(t *testing.T) {
	for _, tc := range []struct {
		p    ProcessCaps
		want string
	}{
		{ProcessCaps{}, "="},
		{ProcessCaps{Effective: 1 << 10, Permitted: 1 << 10}, "cap_net_bind_service=ep"},
		{ProcessCaps{Permitted: 1 << 39}, "cap_bpf=p"},
		{ProcessCaps{Effective: 1 << 3}, "cap_fowner=e"},
		{ProcessCaps{Effective: AllNamed, Permitted: AllNamed}, "=ep"},
		{ProcessCaps{Effective: AllNamed &^ (1 << 24), Permitted: AllNamed}, "=ep cap_sys_resource-e"},
		{ProcessCaps{Permitted: 1 << 63}, "= 63+p"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
	// A file's text is the text of the process sets getcap loads from it:
	// the effective bit stands for every permitted or inheritable one.
	f := FileCaps{Permitted: 1<<0 | 1<<5, Inheritable: 1 << 5, Effective: true}
	if got, want := f.String(), (ProcessCaps{Effective: f.All(), Permitted: f.Permitted, Inheritable: f.Inheritable}).String(); got != want {
		t.Errorf("FileCaps %q, ProcessCaps %q", got, want)
	}
	if got := Mask(0).String(); got != "none" {
		t.Errorf("Mask(0).String() = %q, want none", got)
	}
}

// TestMaskJSON: a set is an array of Docker names in JSON, and reads back.
func TestMaskJSON(t *testing.T) {
	for _, m := range []Mask{0, MaskOf(10), MaskOf(0, 13, 21, 40), ^Mask(0)} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Mask
		if err := json.Unmarshal(b, &back); err != nil || back != m {
			t.Errorf("%s: %s reads back as %s (%v)", m, b, back, err)
		}
	}
	if b, _ := json.Marshal(MaskOf(13, 10)); string(b) != `["NET_BIND_SERVICE","NET_RAW"]` {
		t.Errorf("got %s", b)
	}
	if b, _ := json.Marshal(Mask(0)); string(b) != `[]` {
		t.Errorf("empty set: %s", b)
	}
	var m Mask
	if err := json.Unmarshal([]byte(`["NET_RAWW"]`), &m); err == nil {
		t.Error("an unknown name was accepted")
	}
}
