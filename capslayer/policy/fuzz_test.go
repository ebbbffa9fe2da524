package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParsePolicy feeds arbitrary text to the two parsers of user input:
// neither may panic, and what they accept must be usable.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"NET_RAW=ping", "/usr/bin/ping:NET_RAW=ICMP", "/a:b:cap_chown=x=y", "/u/*:all=x", "=", ":=", "/:=",
		`{}`, `{"profile":"pss-baseline","allow":["NET_RAW"],"max_caps":4}`,
		`{"justifications":[{"path":"/a","capability":"SETUID","reason":"r"}]}`,
	} {
		f.Add(s)
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "policy.json")); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		if j, err := ParseJustification(s); err == nil {
			if strings.TrimSpace(j.Reason) == "" || (j.Path != "" && !strings.HasPrefix(j.Path, "/")) {
				t.Fatalf("ParseJustification(%q) accepted %+v", s, j)
			}
			// The flag form parses back to the same justification when the
			// path has no "=" (which only a policy file can carry).
			if !strings.Contains(j.Path, "=") {
				back, err := ParseJustification(j.String())
				if err != nil || back != j {
					t.Fatalf("ParseJustification(%q) = %+v; String %q parses to %+v, %v", s, j, j.String(), back, err)
				}
			}
		}
		if p, err := ParseFile(strings.NewReader(s)); err == nil {
			if err := p.Validate(); err != nil {
				t.Fatalf("ParseFile(%q) accepted an invalid policy: %v", s, err)
			}
			_ = p.Describe()
			_ = Audit(layerReport(capFile(t, "/app/x", "cap_net_raw,cap_chown=ep")), p)
		}
	})
}
