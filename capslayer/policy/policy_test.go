package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseJustification(t *testing.T) {
	tests := []struct {
		in   string
		want Justification
		err  string
	}{
		{in: "NET_RAW=ping sends ICMP echo", want: Justification{Cap: 13, Reason: "ping sends ICMP echo"}},
		{in: "cap_net_raw=a=b:c", want: Justification{Cap: 13, Reason: "a=b:c"}},
		{in: "/usr/bin/ping:NET_RAW=sends ICMP", want: Justification{Path: "/usr/bin/ping", Cap: 13, Reason: "sends ICMP"}},
		{in: "/opt/a:b/x:sys_admin=mounts", want: Justification{Path: "/opt/a:b/x", Cap: 21, Reason: "mounts"}},
		{in: "/usr/bin/*:NET_RAW=network tools", want: Justification{Path: "/usr/bin/*", Cap: 13, Reason: "network tools"}},
		{in: "NET_RAW", err: "has no '='"},
		{in: "NET_RAW=  ", err: "is empty: write why"},
		{in: "/usr/bin/ping=x", err: "names a path but no capability"},
		{in: "usr/bin/ping:NET_RAW=x", err: `path "usr/bin/ping" is not absolute: write it as it is in the image, e.g. /usr/bin/ping`},
		{in: "/a:NET_RAWW=x", err: "did you mean NET_RAW?"},
		{in: "/a[:NET_RAW=x", err: "not a valid pattern"},
	}
	for _, tc := range tests {
		got, err := ParseJustification(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseJustification(%q) error = %v, want %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParseJustification(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseJustification(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// String gives back the flag form.
	j, _ := ParseJustification("/usr/bin/ping:cap_net_raw=sends ICMP")
	if got := j.String(); got != "/usr/bin/ping:NET_RAW=sends ICMP" {
		t.Errorf("String() = %q", got)
	}
}

func TestJustificationMatches(t *testing.T) {
	tests := []struct {
		j    Justification
		path string
		cap  int
		want bool
	}{
		{Justification{Cap: 13, Reason: "r"}, "/any/where", 13, true},
		{Justification{Cap: 13, Reason: "r"}, "/any/where", 12, false},
		{Justification{Path: "/usr/bin/ping", Cap: 13, Reason: "r"}, "/usr/bin/ping", 13, true},
		{Justification{Path: "/usr/bin/ping", Cap: 13, Reason: "r"}, "/usr/bin/ping6", 13, false},
		{Justification{Path: "/usr/bin/*", Cap: 13, Reason: "r"}, "/usr/bin/ping6", 13, true},
		{Justification{Path: "/usr/bin/*", Cap: 13, Reason: "r"}, "/usr/bin/x/ping", 13, false},
	}
	for _, tc := range tests {
		if got := tc.j.matches(tc.path, tc.cap); got != tc.want {
			t.Errorf("%v matches(%s, %d) = %v, want %v", tc.j, tc.path, tc.cap, got, tc.want)
		}
	}
}

func TestParseFile(t *testing.T) {
	// The example of docs/policy.md.
	p, err := LoadFile(filepath.Join("testdata", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Profile != ProfileBaseline || p.Allow != mustMask("NET_RAW") || p.MaxCaps != 4 || len(p.Justifications) != 2 {
		t.Errorf("LoadFile(testdata/policy.json) = %+v", p)
	}
	if j := p.Justifications[0]; j.Path != "/usr/bin/ping" || j.Cap != mustCap("NET_RAW") || !strings.HasPrefix(j.Reason, "ping sends") {
		t.Errorf("justification 0 = %+v", j)
	}
	if j := p.Justifications[1]; j.Path != "" || j.Cap != mustCap("SETUID") {
		t.Errorf("justification 1 = %+v", j)
	}

	tests := []struct {
		name, in string
		want     Policy
		err      string
	}{
		{name: "defaults", in: `{}`, want: Policy{Profile: ProfileNone, MaxCaps: DefaultMaxCaps}},
		{name: "zero max", in: `{"profile":"pss-restricted","max_caps":0}`, want: Policy{Profile: ProfileRestricted}},
		{name: "no limit", in: `{"max_caps":-1,"allow":["chown","NET_RAW,KILL"]}`, want: Policy{Profile: ProfileNone, MaxCaps: NoLimit, Allow: mustMask("CHOWN", "NET_RAW", "KILL")}},
		{name: "unknown field", in: `{"profil":"none"}`, err: `line 1, column 2 (byte 1): unknown key "profil"`},
		// Keys are exact: encoding/json alone would take each of these.
		{name: "upper case", in: `{"profile":"pss-restricted","PROFILE":"none"}`, err: `line 1, column 29 (byte 28): unknown key "PROFILE": keys are exact and case-sensitive; did you mean "profile"?`},
		{name: "title case", in: "{\n  \"Allow\": [\"ALL\"]\n}", err: `line 2, column 3 (byte 4): unknown key "Allow": keys are exact and case-sensitive; did you mean "allow"?`},
		{name: "unicode folding", in: `{"juſtifications":[{"capability":"SYS_ADMIN","reason":"r"}]}`, err: `line 1, column 2 (byte 1): unknown key "juſtifications": keys are exact and case-sensitive; did you mean "justifications"?`},
		{name: "duplicate", in: "{\"profile\":\"pss-restricted\",\n \"profile\":\"none\"}", err: `line 2, column 2 (byte 30): key "profile" appears twice in one object (first at line 1, column 2)`},
		{name: "duplicate max_caps", in: `{"max_caps":3,"max_caps":-1}`, err: `key "max_caps" appears twice`},
		{name: "nested case", in: `{"justifications":[{"capability":"NET_RAW","reason":"r"},{"Capability":"ALL","reason":"r"}]}`, err: `line 1, column 59 (byte 58): unknown key "Capability" in justifications[1]: keys are exact and case-sensitive; did you mean "capability"? known keys: path, capability, reason`},
		{name: "nested folding", in: `{"justifications":[{"capability":"NET_RAW","reaſon":"r"}]}`, err: `unknown key "reaſon" in justifications[0]`},
		{name: "nested duplicate", in: `{"justifications":[{"path":"/a","capability":"NET_RAW","path":"/*","reason":"r"}]}`, err: `key "path" in justifications[0] appears twice`},
		{name: "escaped key", in: `{"\u0070rofile":"none"}`, err: `key "profile" is written with a backslash escape`},
		{name: "syntax", in: "{\n\"profile\": \"none\",\n}", err: "not valid JSON (line 3)"},
		{name: "type", in: `{"max_caps":"3"}`, err: `field "max_caps" must be an integer`},
		{name: "bad profile", in: `{"profile":"restricted"}`, err: `did you mean "pss-restricted"`},
		{name: "bad allow", in: `{"allow":["NET_RAWW"]}`, err: "allow: unknown capability"},
		{name: "bad max", in: `{"max_caps":-2}`, err: "max caps -2"},
		{name: "no capability", in: `{"justifications":[{"reason":"x"}]}`, err: `justifications[0] has no "capability"`},
		{name: "empty reason", in: `{"justifications":[{"capability":"NET_RAW","reason":""}]}`, err: "justifications[0]: justification for NET_RAW is empty"},
		{name: "relative path", in: `{"justifications":[{"path":"bin/x","capability":"NET_RAW","reason":"r"}]}`, err: "is not absolute"},
		{name: "two values", in: `{} {}`, err: "more than one JSON value"},
	}
	for _, tc := range tests {
		got, err := ParseFile(strings.NewReader(tc.in))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "policy: ") || strings.Count(err.Error(), "policy: ") != 1 {
				t.Errorf("%s: ParseFile error = %v, want %q after one \"policy: \"", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: ParseFile: %v", tc.name, err)
		case got.Profile != tc.want.Profile || got.Allow != tc.want.Allow || got.MaxCaps != tc.want.MaxCaps:
			t.Errorf("%s: ParseFile = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "policy: ") {
		t.Errorf("LoadFile(missing) error = %v, want not-exist", err)
	}
	big := `{"description":"` + strings.Repeat("x", maxPolicyFile) + `"}`
	if _, err := ParseFile(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ParseFile(huge) error = %v", err)
	}
}

func TestPolicyDescribeAndValidate(t *testing.T) {
	p := Default(ProfileRestricted)
	p.Allow = mustMask("NET_RAW")
	want := "profile pss-restricted + allow NET_RAW (allowed: NET_BIND_SERVICE,NET_RAW); more than 3 capabilities per file need a justification"
	if got := p.Describe(); got != want {
		t.Errorf("Describe() = %q\nwant %q", got, want)
	}
	if got := (Policy{MaxCaps: NoLimit}).Describe(); got != "profile none (allowed: none); no limit on capabilities per file" {
		t.Errorf("Describe() = %q", got)
	}
	if err := (Policy{Profile: "nope"}).Validate(); err == nil {
		t.Error("Validate accepted an unknown profile")
	}
	if err := (Policy{Justifications: []Justification{{Cap: 1}}}).Validate(); err == nil {
		t.Error("Validate accepted an empty justification")
	}
}
