package policy

import (
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// capFile returns a visible file whose security.capability holds text as
// setcap would write it (revision 2).
func capFile(t testing.TB, path, text string) tarfs.File {
	t.Helper()
	fc, err := caps.Parse(text)
	if err != nil {
		t.Fatalf("caps.Parse(%q): %v", text, err)
	}
	raw := fc.EncodeV2()
	x, err := caps.Decode(raw)
	if err != nil {
		t.Fatalf("caps.Decode(%x): %v", raw, err)
	}
	return tarfs.File{Path: path, Xattr: x, Raw: raw, Mode: 0o755, Type: "file", ShadowedBy: -1}
}

// layerReport is a lone layer holding files, as inspect.Path reports one.
func layerReport(files ...tarfs.File) *inspect.Report {
	return &inspect.Report{Origin: inspect.Origin{Source: "layer.tar", Kind: inspect.KindLayer}, Images: []inspect.Image{{Layers: []tarfs.Layer{{Index: 0, Files: files}}}}}
}

// rulesOf returns "rule:CAPS" for every finding, in order.
func rulesOf(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		out = append(out, f.Rule+":"+strings.Join(f.Caps.DockerNames(), ","))
	}
	return out
}

func TestAuditRules(t *testing.T) {
	mustJ := func(s string) Justification {
		j, err := ParseJustification(s)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	restricted := Default(ProfileRestricted)
	dockerDefault := Default(ProfileDockerDefault)
	tests := []struct {
		name   string
		p      Policy
		files  []tarfs.File
		want   []string // rule:caps of every finding
		passed bool
	}{
		{"restricted ok", restricted, []tarfs.File{capFile(t, "/app/server", "cap_net_bind_service=ep")}, nil, true},
		{"restricted =p ok", restricted, []tarfs.File{capFile(t, "/app/server", "NET_BIND_SERVICE")}, nil, true},
		{"restricted inheritable counts", restricted, []tarfs.File{capFile(t, "/app/server", "cap_net_bind_service=p cap_kill=i")},
			[]string{"capability-not-allowed:KILL"}, false},
		{"none allows nothing", Default(ProfileNone), []tarfs.File{capFile(t, "/app/server", "cap_net_bind_service=ep")},
			[]string{"capability-not-allowed:NET_BIND_SERVICE"}, false},
		{"none with allow", Policy{Profile: ProfileNone, Allow: mustMask("NET_BIND_SERVICE"), MaxCaps: 3}, []tarfs.File{capFile(t, "/app/server", "cap_net_bind_service=ep")}, nil, true},
		{"not allowed and dangerous", restricted, []tarfs.File{capFile(t, "/usr/bin/ping", "cap_net_raw=ep")},
			[]string{"capability-not-allowed:NET_RAW", "dangerous-capability:NET_RAW"}, false},
		{"allowed but dangerous", dockerDefault, []tarfs.File{capFile(t, "/usr/bin/ping", "cap_net_raw=ep")},
			[]string{"dangerous-capability:NET_RAW"}, false},
		{"dangerous justified for every file", Policy{Profile: ProfileDockerDefault, MaxCaps: 3, Justifications: []Justification{mustJ("NET_RAW=ICMP")}},
			[]tarfs.File{capFile(t, "/usr/bin/ping", "cap_net_raw=ep")}, nil, true},
		{"dangerous justified for another file", Policy{Profile: ProfileDockerDefault, MaxCaps: 3, Justifications: []Justification{mustJ("/usr/bin/arping:NET_RAW=ARP")}},
			[]tarfs.File{capFile(t, "/usr/bin/ping", "cap_net_raw=ep")}, []string{"dangerous-capability:NET_RAW"}, false},
		{"dangerous justified by pattern", Policy{Profile: ProfileDockerDefault, MaxCaps: 3, Justifications: []Justification{mustJ("/usr/bin/*:NET_RAW=network tools")}},
			[]tarfs.File{capFile(t, "/usr/bin/ping", "cap_net_raw=ep")}, nil, true},
		{"justification does not allow", Policy{Profile: ProfileRestricted, MaxCaps: 3, Justifications: []Justification{mustJ("NET_RAW=ICMP")}},
			[]tarfs.File{capFile(t, "/usr/bin/ping", "cap_net_raw=ep")}, []string{"capability-not-allowed:NET_RAW"}, false},
		{"three is fine", Default(ProfileBaseline), []tarfs.File{capFile(t, "/app/x", "cap_kill,cap_fsetid,cap_audit_write=ep")}, nil, true},
		{"four needs justification", Default(ProfileBaseline), []tarfs.File{capFile(t, "/app/x", "cap_kill,cap_fsetid,cap_audit_write,cap_sys_chroot=ep")},
			[]string{"too-many-capabilities:FSETID,KILL,SYS_CHROOT,AUDIT_WRITE"}, false},
		{"four partly justified", Policy{Profile: ProfileBaseline, MaxCaps: 3, Justifications: []Justification{mustJ("/app/x:KILL=signals workers"), mustJ("FSETID=keeps setgid dirs")}},
			[]tarfs.File{capFile(t, "/app/x", "cap_kill,cap_fsetid,cap_audit_write,cap_sys_chroot=ep")},
			[]string{"too-many-capabilities:SYS_CHROOT,AUDIT_WRITE"}, false},
		{"four justified", Policy{Profile: ProfileBaseline, MaxCaps: 3, Justifications: []Justification{mustJ("/app/x:KILL=a"), mustJ("FSETID=b"), mustJ("SYS_CHROOT=c"), mustJ("AUDIT_WRITE=d")}},
			[]tarfs.File{capFile(t, "/app/x", "cap_kill,cap_fsetid,cap_audit_write,cap_sys_chroot=ep")}, nil, true},
		{"no limit", Policy{Profile: ProfileBaseline, MaxCaps: NoLimit}, []tarfs.File{capFile(t, "/app/x", "cap_kill,cap_fsetid,cap_audit_write,cap_sys_chroot=ep")}, nil, true},
		{"max zero", Policy{Profile: ProfileBaseline, MaxCaps: 0}, []tarfs.File{capFile(t, "/app/x", "cap_kill=ep")}, []string{"too-many-capabilities:KILL"}, false},
		{"dangerous and too many share a justification", Policy{Profile: ProfileBaseline, MaxCaps: 0, Justifications: []Justification{mustJ("CHOWN=fixes volume ownership")}},
			[]tarfs.File{capFile(t, "/app/x", "cap_chown=ep")}, nil, true},
		{"allow ALL", Policy{Profile: ProfileNone, Allow: ^caps.Mask(0), MaxCaps: NoLimit}, []tarfs.File{capFile(t, "/app/x", "cap_checkpoint_restore,cap_syslog=p")}, nil, true},
		{"invalid", Default(ProfileDockerDefault), []tarfs.File{{Path: "/app/bad", Raw: []byte{0x01, 0x00}, Invalid: "2 bytes", ShadowedBy: -1}},
			[]string{"invalid-capability:"}, false},
		{"namespaced warns", Default(ProfileRestricted), []tarfs.File{func() tarfs.File {
			f := capFile(t, "/app/ns", "cap_net_bind_service=ep")
			f.Xattr.Revision, f.Xattr.RootID = 3, 100000
			return f
		}()}, []string{"namespaced-capability:"}, true},
		{"namespaced rootid 0 is fine", Default(ProfileRestricted), []tarfs.File{func() tarfs.File {
			f := capFile(t, "/app/ns", "cap_net_bind_service=ep")
			f.Xattr.Revision = 3
			return f
		}()}, nil, true},
		{"shadowed is a note", Default(ProfileRestricted), []tarfs.File{func() tarfs.File {
			f := capFile(t, "/usr/bin/ping", "cap_sys_admin=ep")
			f.ShadowedBy = 1
			return f
		}()}, []string{"shadowed-capability:SYS_ADMIN"}, true},
		{"shadowed invalid is a note", Default(ProfileRestricted), []tarfs.File{{Path: "/app/bad", Raw: []byte{9}, Invalid: "1 byte", ShadowedBy: 2}},
			[]string{"shadowed-capability:"}, true},
		{"empty caps", Default(ProfileNone), []tarfs.File{capFile(t, "/app/x", "cap_kill=i")}, []string{"capability-not-allowed:KILL"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			res := Audit(layerReport(tc.files...), tc.p)
			if got, want := strings.Join(rulesOf(res), " "), strings.Join(tc.want, " "); got != want {
				t.Errorf("findings = %q, want %q", got, want)
			}
			if res.Passed != tc.passed {
				t.Errorf("Passed = %v, want %v", res.Passed, tc.passed)
			}
			for _, f := range res.Findings {
				if f.Path == "" || f.Message == "" || !strings.Contains(f.Message, f.Path) {
					t.Errorf("finding %+v does not name its file", f)
				}
				if (f.Level != LevelNote) != (f.Remedy != nil) {
					t.Errorf("finding %+v: a remedy for an error or warning, none for a note", f)
				}
				for _, c := range f.Caps.DockerNames() {
					if !strings.Contains(f.Message, c) {
						t.Errorf("finding message %q does not name %s", f.Message, c)
					}
				}
			}
		})
	}
}

func TestAuditMessages(t *testing.T) {
	p := Default(ProfileRestricted)
	res := Audit(layerReport(capFile(t, "/app/tool", "cap_sys_admin,cap_net_raw=ep")), p)
	want := []struct {
		rule, msg string
		caps      string
		remedy    Remedy
	}{
		{RuleNotAllowed,
			"/app/tool (layer 0) has CAP_NET_RAW and CAP_SYS_ADMIN (cap_net_raw,cap_sys_admin=ep), which profile pss-restricted does not allow",
			"NET_RAW SYS_ADMIN", Remedy{}},
		{RuleDangerous,
			"/app/tool (layer 0) has CAP_NET_RAW, a dangerous capability (raw and packet sockets: forge packets and spoof addresses on the pod network), without a written justification",
			"NET_RAW", Remedy{Pattern: "/app/tool"}},
		{RuleDangerous,
			"/app/tool (layer 0) has CAP_SYS_ADMIN, a dangerous capability (mount, namespaces and dozens of other administrative operations; equivalent to root in most threat models), without a written justification",
			"SYS_ADMIN", Remedy{Pattern: "/app/tool"}},
	}
	if len(res.Findings) != len(want) {
		t.Fatalf("findings = %q", rulesOf(res))
	}
	for i, w := range want {
		f := res.Findings[i]
		if f.Rule != w.rule || f.Message != w.msg || strings.Join(f.Caps.DockerNames(), " ") != w.caps || f.Remedy == nil || *f.Remedy != w.remedy || f.Fix != "" {
			t.Errorf("finding %d:\n got %s | %s | %v | %+v | %q\nwant %s | %s | %s | %+v", i, f.Rule, f.Message, f.Caps, f.Remedy, f.Fix, w.rule, w.msg, w.caps, w.remedy)
		}
	}
	// A broader profile is suggested when one allows every offending
	// capability.
	res = Audit(layerReport(capFile(t, "/usr/bin/ping", "cap_net_raw=ep")), p)
	if r := res.Findings[0].Remedy; r == nil || r.Profile != ProfileDockerDefault {
		t.Errorf("remedy = %+v, want a docker-default suggestion", r)
	}
	res = Audit(layerReport(capFile(t, "/usr/bin/ping", "cap_chown=ep")), p)
	if r := res.Findings[0].Remedy; r == nil || r.Profile != ProfileBaseline {
		t.Errorf("remedy = %+v, want a pss-baseline suggestion", r)
	}
	// Shadowed files say what the policy would have said.
	f := capFile(t, "/usr/bin/ping", "cap_net_raw=ep")
	f.ShadowedBy = 2
	res = Audit(layerReport(f), p)
	if want := "/usr/bin/ping (layer 0) had capabilities cap_net_raw=ep, but layer 2 replaced or deleted it: it is not in the container's filesystem, so it is not checked (the policy would not allow NET_RAW)"; res.Findings[0].Message != want {
		t.Errorf("shadowed message = %q\nwant %q", res.Findings[0].Message, want)
	}
}

func TestAuditJustificationBookkeeping(t *testing.T) {
	jPing, _ := ParseJustification("/usr/bin/ping:NET_RAW=ping sends ICMP")
	jAll, _ := ParseJustification("NET_RAW=network diagnostics")
	jStale, _ := ParseJustification("/app/gone:SYS_ADMIN=old")
	p := Policy{Profile: ProfileDockerDefault, MaxCaps: 3, Justifications: []Justification{jAll, jPing, jStale}}
	res := Audit(layerReport(capFile(t, "/usr/bin/ping", "cap_net_raw=ep"), capFile(t, "/usr/bin/arping", "cap_net_raw=ep")), p)
	if !res.Passed {
		t.Fatalf("findings = %q", rulesOf(res))
	}
	// The path-specific justification wins for ping; arping uses the
	// general one.
	got := map[string]string{}
	for _, f := range res.Files {
		if len(f.Justified) != 1 {
			t.Fatalf("%s: Justified = %+v", f.Path, f.Justified)
		}
		got[f.Path] = f.Justified[0].Reason
	}
	if got["/usr/bin/ping"] != "ping sends ICMP" || got["/usr/bin/arping"] != "network diagnostics" {
		t.Errorf("justifications used = %v", got)
	}
	if len(res.Unused) != 1 || res.Unused[0] != "/app/gone:SYS_ADMIN=old" {
		t.Errorf("Unused = %q", res.Unused)
	}
}

func TestAuditOrderAndImages(t *testing.T) {
	ping := capFile(t, "/usr/bin/ping", "cap_net_raw=ep")
	ping.Layer, ping.ShadowedBy = 0, 1
	srv := capFile(t, "/app/server", "cap_net_bind_service=ep")
	srv.Layer = 1
	zz := capFile(t, "/aaa", "cap_net_bind_service=ep")
	zz.Layer = 1
	rep := &inspect.Report{Origin: inspect.Origin{Source: "img", Kind: inspect.KindOCILayout}, Images: []inspect.Image{
		// Files listed out of order on purpose: Audit sorts by layer and path.
		{Name: "example.com/app:1", Platform: "linux/amd64", Layers: []tarfs.Layer{
			{Index: 1, Digest: "sha256:1111", Files: []tarfs.File{srv, zz}},
			{Index: 0, Digest: "sha256:0000", Files: []tarfs.File{ping}},
		}},
		{Name: "example.com/app:1", Platform: "linux/arm64", Layers: []tarfs.Layer{{Index: 0, Digest: "sha256:2222", Files: []tarfs.File{srv}}}},
	}}
	res := Audit(rep, Default(ProfileRestricted))
	var got []string
	for _, f := range res.Files {
		got = append(got, f.Platform+" "+f.LayerDigest+" "+f.Path+" "+f.Status)
	}
	want := "linux/amd64 sha256:0000 /usr/bin/ping shadowed|linux/amd64 sha256:1111 /aaa ok|linux/amd64 sha256:1111 /app/server ok|linux/arm64 sha256:2222 /app/server ok"
	if strings.Join(got, "|") != want {
		t.Errorf("files = %s\nwant %s", strings.Join(got, "|"), want)
	}
	if !res.Passed {
		t.Errorf("a shadowed NET_RAW failed the audit: %q", rulesOf(res))
	}
}
