package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxDeb is Debian's busybox-static package, the third-party binary of
// the copy-up cases: under Bazel the file @busybox_static_deb fetched
// (MODULE.bazel pins its sha256), else `apt-get download busybox-static`.
var BusyboxDeb = Binary{Env: "BUSYBOX_DEB"}

// BusyboxImages are the docker-archive tarballs of two images of Debian's
// busybox-static, both with user 1000: Copyup is the package's files (the
// base) plus the copy-up layer `capslayer layer --from-image` writes for
// /bin/busybox with cap_net_bind_service=ep; Plain is the base alone, the
// negative control. Their entrypoint is /bin/busybox.
type BusyboxImages struct {
	Copyup, Plain       string // tarballs
	CopyupRef, PlainRef string // their tags
	// Layer is the copy-up layer.
	Layer string
}

// BusyNC is the command that binds port 80 in a busybox image: nc waits for
// a client once bound, so `timeout` ends it (exit 143); a failed bind ends
// it at once with "nc: bind: Permission denied" (exit 1). A shell stays the
// container's PID 1 ("; exit" keeps it from exec'ing the last command):
// busybox's timeout execs the command and signals it from a child, and the
// kernel drops a signal to PID 1 that has no handler.
var BusyNC = []string{"sh", "-c", "/bin/busybox timeout 3 /bin/busybox nc -l -p 80; exit $?"}

// BuildBusyboxImages writes the busybox images under dir with capslayer,
// tagged prefix + "busybox-copyup" and prefix + "busybox-plain".
func BuildBusyboxImages(t testing.TB, capslayer, dir, prefix string) BusyboxImages {
	t.Helper()
	deb := busyboxDeb(t, dir)
	RequireTools(t, "dpkg-deb")
	data := filepath.Join(dir, "busybox-data.tar")
	r := MustRun(t, "dpkg-deb", "--fsys-tarfile", deb)
	if err := os.WriteFile(data, []byte(r.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "busybox-base")
	MustRun(t, capslayer, "image", "--layer", data, "--platform", "linux/amd64", "--entrypoint", "/bin/busybox", "--output", base)
	im := BusyboxImages{
		Layer:     filepath.Join(dir, "busybox-caps.tar"),
		Copyup:    filepath.Join(dir, "busybox-copyup.tar"),
		Plain:     filepath.Join(dir, "busybox-plain.tar"),
		CopyupRef: prefix + "busybox-copyup",
		PlainRef:  prefix + "busybox-plain",
	}
	MustRun(t, capslayer, "layer", "--from-image", base, "--set", "/bin/busybox=cap_net_bind_service=ep", "--output", im.Layer)
	MustRun(t, capslayer, "image", "--base", base, "--layer", im.Layer, "--user", "1000",
		"--output", filepath.Join(dir, "busybox-copyup"), "--tarball", im.Copyup, "--tag", im.CopyupRef)
	MustRun(t, capslayer, "image", "--base", base, "--user", "1000",
		"--output", filepath.Join(dir, "busybox-plain"), "--tarball", im.Plain, "--tag", im.PlainRef)
	return im
}

// busyboxDeb returns the path of the busybox-static package.
func busyboxDeb(t testing.TB, dir string) string {
	t.Helper()
	if os.Getenv(BusyboxDeb.Env) != "" {
		return BusyboxDeb.Path(t)
	}
	RequireTools(t, "apt-get")
	dl := filepath.Join(dir, "busybox-deb")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	r := Run(t, Cmd{Args: []string{"apt-get", "download", "busybox-static"}, Dir: dl})
	if r.ExitCode != 0 {
		SkipOrFail(t, "%s is not set and apt-get download busybox-static failed:\n%s", BusyboxDeb.Env, r)
	}
	m, _ := filepath.Glob(filepath.Join(dl, "busybox-static_*.deb"))
	if len(m) != 1 {
		t.Fatalf("apt-get download busybox-static left %v", m)
	}
	return m[0]
}

// AppendWithLabel writes to out an OCI layout of the only image of the
// layout base plus the uncompressed layer tar layer, kept byte for byte,
// with the config's user and labels set: what rules_oci's oci_image(base,
// tars, user, labels) assembles, without capslayer's writer. It returns out.
func AppendWithLabel(t testing.TB, base, layer, out, user string, labels map[string]string) string {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(base)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("%s: want one image: %v", base, err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, static.NewLayer(b, types.OCIUncompressedLayer)); err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.User = user
	cf.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return out
}
