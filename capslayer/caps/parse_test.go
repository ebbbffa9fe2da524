package caps

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestParseForms checks every input form Parse documents, with the
// canonical text and the value setcap would write for it.
func TestParseForms(t *testing.T) {
	for _, tc := range []struct {
		in, canonical, hex string
	}{
		// setcap syntax
		{"cap_net_bind_service=ep", "cap_net_bind_service=ep", "0100000200040000000000000000000000000000"},
		{"cap_net_bind_service+ep", "cap_net_bind_service=ep", "0100000200040000000000000000000000000000"},
		{"cap_net_bind_service=p", "cap_net_bind_service=p", "0000000200040000000000000000000000000000"},
		{"CAP_NET_RAW+ep", "cap_net_raw=ep", "0100000200200000000000000000000000000000"},
		{"cap_chown,cap_kill=p", "cap_chown,cap_kill=p", "0000000221000000000000000000000000000000"},
		{"cap_chown=ep cap_kill=e", "cap_chown=ep", "0100000201000000000000000000000000000000"},
		{"cap_chown=p\ncap_kill=p", "cap_chown,cap_kill=p", "0000000221000000000000000000000000000000"},
		{"all=ep", "=ep", "01000002ffffffff00000000ff01000000000000"},
		{"=p cap_chown-p", "=p cap_chown-p", "00000002feffffff00000000ff01000000000000"},
		{"012=p", "cap_net_bind_service=p", "0000000200040000000000000000000000000000"},
		{"0x0c=p", "cap_net_admin=p", "0000000200100000000000000000000000000000"},
		{"63=p", "= 63+p", "0000000200000000000000000000008000000000"},
		// ko's setcap-like terms without the cap_ prefix
		{"bpf=ep", "cap_bpf=ep", "0100000200000000000000008000000000000000"},
		{"bpf,perfmon,net_admin=ep", "cap_net_admin,cap_perfmon,cap_bpf=ep", "010000020010000000000000c000000000000000"},
		{"chown,dac_override,dac_read_search=p", "cap_chown,cap_dac_override,cap_dac_read_search=p", "0000000207000000000000000000000000000000"},
		{"chown=ie chown=p", "cap_chown=p", "0000000201000000000000000000000000000000"},
		{"chown=ie chown+p", "cap_chown=eip", "0100000201000000010000000000000000000000"},
		{"chown=pie dac_override,chown-p", "cap_chown=ei", "0100000200000000010000000000000000000000"},
		{"=pe", "=ep", "01000002ffffffff00000000ff01000000000000"},
		// bare names: each means =p
		{"NET_BIND_SERVICE", "cap_net_bind_service=p", "0000000200040000000000000000000000000000"},
		{"CAP_NET_RAW", "cap_net_raw=p", "0000000200200000000000000000000000000000"},
		{"cap_net_raw", "cap_net_raw=p", "0000000200200000000000000000000000000000"},
		{"net_bind_service,bpf", "cap_net_bind_service,cap_bpf=p", "0000000200040000000000008000000000000000"},
		{"net_bind_service bpf", "cap_net_bind_service,cap_bpf=p", "0000000200040000000000008000000000000000"},
		{" chown, dac_override ,\tdac_read_search ", "cap_chown,cap_dac_override,cap_dac_read_search=p", "0000000207000000000000000000000000000000"},
		{"ALL", "=p", "00000002ffffffff00000000ff01000000000000"},
		{"12", "cap_net_admin=p", "0000000200100000000000000000000000000000"},
		// YAML and JSON lists
		{"[net_bind_service, bpf]", "cap_net_bind_service,cap_bpf=p", "0000000200040000000000008000000000000000"},
		{`["NET_BIND_SERVICE", 'BPF',]`, "cap_net_bind_service,cap_bpf=p", "0000000200040000000000008000000000000000"},
		{"- NET_BIND_SERVICE\n- BPF\n", "cap_net_bind_service,cap_bpf=p", "0000000200040000000000008000000000000000"},
		{"  - NET_BIND_SERVICE\r\n  - \"BPF\"\r\n", "cap_net_bind_service,cap_bpf=p", "0000000200040000000000008000000000000000"},
		{"[cap_bpf=ep]", "cap_bpf=ep", "0100000200000000000000008000000000000000"},
		{`["cap_chown,cap_kill=p"]`, "cap_chown,cap_kill=p", "0000000221000000000000000000000000000000"},
		{"- cap_chown=p\n- cap_kill+p", "cap_chown,cap_kill=p", "0000000221000000000000000000000000000000"},
	} {
		f, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := f.String(); got != tc.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.canonical)
		}
		if got := hex.EncodeToString(f.EncodeV2()); got != tc.hex {
			t.Errorf("Parse(%q).EncodeV2() = %s, want %s", tc.in, got, tc.hex)
		}
		back, err := Parse(f.String())
		if err != nil || back != f {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", f.String(), back, err, f)
		}
	}
}

// TestParseErrors checks that bad input is rejected with a message that
// names the problem, points at the token and suggests a fix.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in         string
		setcapOnly bool // test ParseSetcap instead of Parse
		offset     int
		token      string
		msg        string // substring of Msg
		suggestion string // substring of Suggestion
	}{
		{in: "cap_net_bind_servce=ep", offset: 0, token: "cap_net_bind_servce", msg: `unknown capability "cap_net_bind_servce"`, suggestion: `did you mean "cap_net_bind_service"?`},
		{in: "NET_BIND_SERVCE", offset: 0, token: "NET_BIND_SERVCE", msg: "unknown capability", suggestion: `"cap_net_bind_service"`},
		{in: "cap_net_raw,cap_sys_admn=p", offset: 12, token: "cap_sys_admn", msg: "unknown capability", suggestion: `"cap_sys_admin"`},
		{in: "cap_net_bind=p", offset: 0, token: "cap_net_bind", msg: "unknown capability", suggestion: `"cap_net_bind_service"`},
		{in: "[NET_RAW, FROB]", offset: 10, token: "FROB", msg: `unknown capability "FROB"`, suggestion: "capabilities(7)"},
		{in: "bpf=ep", setcapOnly: true, offset: 0, token: "bpf", msg: `unknown capability "bpf"`, suggestion: `setcap needs the cap_ prefix: "cap_bpf"`},
		{in: "cap_chown=E", offset: 10, token: "E", msg: `unknown flag "E"`, suggestion: `flags are lowercase: use "e"`},
		{in: "cap_chown=eP", offset: 11, token: "P", msg: `unknown flag "P"`, suggestion: "lowercase"},
		{in: "cap_chown=x", offset: 10, token: "x", msg: `unknown flag "x"`, suggestion: "e (effective), i (inheritable) and p (permitted)"},
		{in: "cap_chown=p=i", offset: 11, token: "=", msg: "unexpected '='", suggestion: "one '='"},
		{in: "cap_chown=p,cap_kill=p", offset: 11, token: ",", msg: "unexpected ','", suggestion: "before the operator"},
		{in: "cap_chown:p", setcapOnly: true, offset: 9, token: ":", msg: `unexpected ":" after "cap_chown"`, suggestion: "'='"},
		{in: "cap_chown,,cap_kill=p", offset: 9, token: ",", msg: "expected a capability name after ','"},
		{in: "+p", offset: 0, token: "+", msg: "a capability list is required before '+'", suggestion: `"cap_net_bind_service+p"`},
		{in: "-p", offset: 0, token: "-", msg: "a capability list is required before '-'"},
		{in: "=+p cap_kill=p", offset: 0, token: "=+", msg: "needs an explicit capability list", suggestion: `e.g. "all=+p"`},
		{in: "=e+p", offset: 2, token: "+", msg: "needs an explicit capability list", suggestion: `"all=e+p"`},
		{in: "cap_chown+", offset: 9, token: "+", msg: "must be followed by flags"},
		{in: "cap_chown=p+", offset: 11, token: "+", msg: "must be followed by flags"},
		{in: "cap_chown=+", offset: 9, token: "=+", msg: "must be followed by flags"},
		{in: "08=p", offset: 0, token: "08", msg: `invalid capability number "08"`, suggestion: "octal"},
		{in: "0x=p", offset: 0, token: "0x", msg: "invalid capability number"},
		{in: "64=p", offset: 0, token: "64", msg: "out of range", suggestion: "0 to 63"},
		{in: "0x40", offset: 0, token: "0x40", msg: "out of range"},
		{in: "NET_BIND_SERVICE BPF=ep", offset: 0, token: "NET_BIND_SERVICE", msg: `missing operator after "NET_BIND_SERVICE"`, suggestion: `"NET_BIND_SERVICE=p"`},
		{in: "cap_chown", setcapOnly: true, offset: 0, token: "cap_chown", msg: "missing operator"},
		{in: "[NET_RAW", offset: 0, token: "[", msg: "not closed"},
		{in: "- 'NET_RAW\n", offset: 2, token: "'", msg: "unterminated quote"},
		{in: `["NET_RAW, BPF]`, offset: 1, token: `"`, msg: "unterminated quote"},
		{in: "cap_chown:p", offset: 9, token: ":", msg: `unexpected ":" in capability name "cap_chown:p"`},
		{in: "NET_RAW;BPF", offset: 7, token: ";", msg: `unexpected ";" in capability name "NET_RAW;BPF"`},
		{in: "cap_chown=p\x00", offset: 11, token: "\x00", msg: "NUL byte"},
		{in: "cap_chown=p cap_kill=p é", offset: 23, token: "é", msg: `unexpected "é"`},
		// results
		{in: "", offset: -1, msg: "grants no capabilities", suggestion: `"cap_net_bind_service=p"`},
		{in: "  \n", offset: -1, msg: "grants no capabilities"},
		{in: "=", offset: -1, msg: "grants no capabilities"},
		{in: "cap_chown=", offset: -1, msg: "grants no capabilities"},
		{in: "[]", offset: -1, msg: "grants no capabilities"},
		{in: "cap_chown=e", offset: -1, msg: "effective flag alone", suggestion: `"cap_chown=ep"`},
		{in: "cap_chown=p-p", offset: -1, msg: "grants no capabilities"},
		{in: "cap_chown=ep cap_kill=p", offset: -1,
			msg:        "effective file capabilities must either be empty, or exactly match the union of selected permitted and inheritable bits (as setcap says): cap_kill is not effective while cap_chown is",
			suggestion: `ONE effective bit for all its capabilities; write "cap_chown,cap_kill=ep" to make all of them effective at exec, or "cap_chown,cap_kill=p" and raise them`},
		{in: "cap_chown=ep cap_kill=ie cap_setuid=p", setcapOnly: true, offset: -1,
			msg:        "cap_setuid is not effective while cap_chown,cap_kill is",
			suggestion: `"cap_kill=ei cap_chown,cap_setuid+ep"`},
		{in: "0=ep 1,2=p", offset: -1, msg: "cap_dac_override,cap_dac_read_search are not effective"},
	} {
		parse, name := Parse, "Parse"
		if tc.setcapOnly {
			parse, name = ParseSetcap, "ParseSetcap"
		}
		f, err := parse(tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s(%q) = %v, %v; want a *ParseError", name, tc.in, f, err)
			continue
		}
		if pe.Text != tc.in || pe.Offset != tc.offset || pe.Token != tc.token {
			t.Errorf("%s(%q): Text %q, Offset %d, Token %q; want Offset %d, Token %q", name, tc.in, pe.Text, pe.Offset, pe.Token, tc.offset, tc.token)
		}
		if pe.Offset >= 0 && !strings.HasPrefix(tc.in[pe.Offset:], pe.Token) {
			t.Errorf("%s(%q): Token %q is not at Offset %d", name, tc.in, pe.Token, pe.Offset)
		}
		if !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("%s(%q): Msg %q does not contain %q", name, tc.in, pe.Msg, tc.msg)
		}
		if !strings.Contains(pe.Suggestion, tc.suggestion) {
			t.Errorf("%s(%q): Suggestion %q does not contain %q", name, tc.in, pe.Suggestion, tc.suggestion)
		}
		if tc.suggestion != "" && !strings.Contains(err.Error(), tc.suggestion) {
			t.Errorf("%s(%q): Error() %q lacks the suggestion", name, tc.in, err)
		}
	}
}

func TestParseErrorString(t *testing.T) {
	_, err := Parse("cap_chown=E")
	want := `invalid capability text "cap_chown=E": unknown flag "E" (at offset 10); flags are lowercase: use "e"`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v\nwant %s", err, want)
	}
	_, err = Parse("")
	want = `invalid capability text "": grants no capabilities; name at least one capability with p (permitted) or i (inheritable), e.g. "cap_net_bind_service=p" or just "NET_BIND_SERVICE"`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v\nwant %s", err, want)
	}
}

// TestParseSetcapEmpty pins that ParseSetcap, like setcap, accepts
// results that grant nothing, and keeps a lone effective bit, which
// setcap writes too.
func TestParseSetcapEmpty(t *testing.T) {
	for in, want := range map[string]FileCaps{
		"":            {},
		" \t":         {},
		"=":           {},
		"all=":        {},
		"cap_chown=":  {},
		"cap_chown=e": {Effective: true},
		"=e":          {Effective: true},
	} {
		f, err := ParseSetcap(in)
		if err != nil || f != want {
			t.Errorf("ParseSetcap(%q) = %+v, %v; want %+v", in, f, err, want)
		}
		if !f.IsEmpty() || f.String() != "=" {
			t.Errorf("ParseSetcap(%q) = %+v: IsEmpty %v, String %q", in, f, f.IsEmpty(), f.String())
		}
	}
}

// TestAllReplacesList pins libcap's quirk that "all" in a list replaces
// the entries before it (its forceall assigns the list) instead of adding
// to them; vectors.tsv holds what setcap does with these texts.
func TestAllReplacesList(t *testing.T) {
	for in, want := range map[string]string{
		"55,all=p":  "=p",
		"all,55=p":  "=p 55+p",
		"55,ALL=p":  "=p",
		"55 all":    "=p 55+p", // name-list form: a plain union
		"[55, all]": "=p 55+p",
	} {
		f, err := Parse(in)
		if err != nil || f.String() != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, f.String(), err, want)
		}
	}
}
