package caps

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNames(t *testing.T) {
	if XattrName != "security.capability" || PAXRecordKey != "SCHILY.xattr.security.capability" {
		t.Errorf("XattrName %q, PAXRecordKey %q", XattrName, PAXRecordKey)
	}
}

func TestEncode(t *testing.T) {
	f := FileCaps{Permitted: MaskOf(10, 39), Inheritable: MaskOf(0, 40), Effective: true}
	// Words: magic 0x02000001, p low, i low, p high, i high.
	if got, want := hex.EncodeToString(f.EncodeV2()), "01000002"+"00040000"+"01000000"+"80000000"+"00010000"; got != want {
		t.Errorf("EncodeV2 = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(f.EncodeV3(100000)), "01000003"+"00040000"+"01000000"+"80000000"+"00010000"+"a0860100"; got != want {
		t.Errorf("EncodeV3 = %s, want %s", got, want)
	}
	// Without the effective bit, the value starts with a NUL byte.
	if got := (FileCaps{Permitted: MaskOf(0)}).EncodeV2(); got[0] != 0 || len(got) != 20 {
		t.Errorf("EncodeV2 of cap_chown=p = %x", got)
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want Xattr
		text string
	}{
		{"0000000200040000000000000000000000000000", Xattr{Caps: FileCaps{Permitted: MaskOf(10)}, Revision: 2}, "cap_net_bind_service=p"},
		{"0100000200040000000000000000000000000000", Xattr{Caps: FileCaps{Permitted: MaskOf(10), Effective: true}, Revision: 2}, "cap_net_bind_service=ep"},
		{"0100000200000000000000000000000000000000", Xattr{Caps: FileCaps{Effective: true}, Revision: 2}, "="},
		{"0100000301000000000000000000000000000000e8030000", Xattr{Caps: FileCaps{Permitted: MaskOf(0), Effective: true}, Revision: 3, RootID: 1000}, "cap_chown=ep [rootid=1000]"},
		{"000000030000000000000000000000800000000000000000", Xattr{Caps: FileCaps{Permitted: MaskOf(63)}, Revision: 3}, "= 63+p"},
		// Revision 1 (12 bytes), which only old kernels wrote.
		{"010000010100000002000000", Xattr{Caps: FileCaps{Permitted: MaskOf(0), Inheritable: MaskOf(1), Effective: true}, Revision: 1}, "cap_dac_override=ei cap_chown+ep"},
	} {
		b := mustHex(t, tc.hex)
		x, err := Decode(b)
		if err != nil {
			t.Errorf("Decode(%s): %v", tc.hex, err)
			continue
		}
		if x != tc.want {
			t.Errorf("Decode(%s) = %+v, want %+v", tc.hex, x, tc.want)
		}
		if got := x.String(); got != tc.text {
			t.Errorf("Decode(%s).String() = %q, want %q", tc.hex, got, tc.text)
		}
		if back, err := x.Encode(); err != nil || !bytes.Equal(back, b) {
			t.Errorf("Decode(%s).Encode() = %x, %v", tc.hex, back, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		hex, msg string
	}{
		{"", "is 0 bytes, too short"},
		{"000000", "is 3 bytes, too short"},
		{"00000000" + strings.Repeat("00", 16), "unknown revision byte 0x00"},
		{"00000004" + strings.Repeat("00", 16), "unknown revision byte 0x04"},
		{"000000ff" + strings.Repeat("00", 16), "unknown revision byte 0xff"},
		{"00000002" + strings.Repeat("00", 20), "revision 2 must be 20 bytes, got 24"},
		{"00000002" + strings.Repeat("00", 8), "revision 2 must be 20 bytes, got 12"},
		{"00000002" + strings.Repeat("00", 17), "revision 2 must be 20 bytes, got 21"},
		{"00000003" + strings.Repeat("00", 16), "revision 3 must be 24 bytes, got 20"},
		{"00000001" + strings.Repeat("00", 16), "revision 1 must be 12 bytes, got 20"},
		{"02000002" + strings.Repeat("00", 16), "reserved flag bits 0x000002"},
		{"01008002" + strings.Repeat("00", 16), "reserved flag bits 0x800000"},
	} {
		_, err := Decode(mustHex(t, tc.hex))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Decode(%s) = %v, want an error containing %q", tc.hex, err, tc.msg)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, err := (Xattr{Revision: 1, Caps: FileCaps{Permitted: MaskOf(32)}}).Encode(); err == nil || !strings.Contains(err.Error(), "0..31 only, not cap_mac_override") {
		t.Errorf("Encode of a revision 1 value with cap 32: %v", err)
	}
	if _, err := (Xattr{Revision: 4}).Encode(); err == nil || !strings.Contains(err.Error(), "revision 4") {
		t.Errorf("Encode of revision 4: %v", err)
	}
}
