package layer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/internal/testenv"
)

// TestRewriteProducers gives /bin/ping cap_net_raw=p in tars written by the
// producers available offline, extracts the result with GNU tar --xattrs
// and checks it with getcap; `tar -tv` must list the same entries as for
// the input. bsdtar's mtree mode stands in for tar.bzl, which drives it;
// rules_pkg's pkg_tar is not tested here (it needs Bazel).
func TestRewriteProducers(t *testing.T) {
	testenv.RequireRoot(t, "extracting security.capability needs CAP_SETFCAP")
	testenv.RequireTools(t, "tar", "getcap", "bsdtar", "python3", "dpkg-deb", "apt-get")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "bin/ping"), []byte("\x7fELF not really"), 0o755)
	os.Symlink("ping", filepath.Join(src, "bin/ping6"))
	os.WriteFile(filepath.Join(src, "etc", strings.Repeat("n", 150)), []byte("long name"), 0o644)
	producers := map[string][]string{
		"gnu-tar-gnu":   {"tar", "--format=gnu", "--sort=name", "-cf", "OUT", "-C", src, "."},
		"gnu-tar-posix": {"tar", "--format=posix", "--xattrs", "--sort=name", "-czf", "OUT", "-C", src, "."},
		"bsdtar":        {"bsdtar", "--format=pax", "-cf", "OUT", "-C", src, "."},
		"bsdtar-mtree":  {"sh", "-c", `cd "$1" && printf '#mtree\n./bin type=dir mode=0755\n./bin/ping type=file mode=0755 uid=0 gid=0 contents=bin/ping\n./bin/ping6 type=link link=ping\n' > ../spec && bsdtar --format=gnutar -cf "$2" @../spec`, "sh", src, "OUT"},
		"python-tarfile": {"python3", "-c", `import sys, tarfile
with tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as t: t.add(sys.argv[1], arcname=".")`, src, "OUT"},
	}
	// A Debian package's files, as rules_distroless unpacks them.
	deb := filepath.Join(dir, "deb")
	os.Mkdir(deb, 0o755)
	get := exec.Command("apt-get", "download", "iputils-ping")
	get.Dir = deb
	if b, err := get.CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "apt-get download iputils-ping: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(deb, "*.deb"))
	producers["dpkg-deb"] = []string{"sh", "-c", `dpkg-deb --fsys-tarfile "$1" > "$2"`, "sh", debs[0], "OUT"}

	for name, argv := range producers {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, name+".tar")
			for i := range argv {
				argv[i] = strings.ReplaceAll(argv[i], "OUT", in)
			}
			run(t, argv[0], argv[1:]...)
			out := filepath.Join(dir, name+"-caps.tar")
			ping := "/bin/ping"
			if name == "dpkg-deb" { // /usr/bin/ping since Debian merged /usr
				for _, l := range strings.Split(run(t, "tar", "-tvf", in), "\n") {
					if f := strings.Fields(l); len(f) == 6 && strings.HasPrefix(l, "-") && strings.HasSuffix(f[5], "bin/ping") {
						ping = strings.TrimPrefix(f[5], ".")
					}
				}
			}
			if _, err := RewriteFile(out, in, []SetCap{{Path: ping, Caps: *mustXattr(netRawP)}}); err != nil {
				t.Fatal(err)
			}
			if a, b := run(t, "tar", "-tvf", in), run(t, "tar", "-tvf", out); a != b {
				t.Errorf("tar -tv lists differ:\n%s\n---\n%s", a, b)
			}
			root := filepath.Join(dir, name+"-root")
			os.Mkdir(root, 0o755)
			run(t, "tar", "--xattrs", "--xattrs-include=*", "-xpf", out, "-C", root)
			if got := strings.TrimSpace(run(t, "getcap", filepath.Join(root, ping))); !strings.HasSuffix(got, " cap_net_raw=p") {
				t.Errorf("getcap: %q, want cap_net_raw=p", got)
			}
		})
	}
}
