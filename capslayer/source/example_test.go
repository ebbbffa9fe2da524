package source_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/imagemeta"
	"github.com/capslayer/rules_capslayer/capslayer/layer"
	"github.com/capslayer/rules_capslayer/capslayer/policy"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/source"
)

// capsImage is an image whose one layer gives path the capabilities text,
// with label as its io.capslayer.capabilities label when not empty.
func capsImage(path, text, label string) v1.Image {
	dir, err := os.MkdirTemp("", "source-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("\x7fELF..."), 0o755); err != nil {
		log.Fatal(err)
	}
	fc, err := caps.Parse(text)
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := layer.Write(&buf, []layer.File{{Path: path, Source: bin, Caps: &caps.Xattr{Caps: fc, Revision: 2}}}); err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		log.Fatal(err)
	}
	if label == "" {
		return img
	}
	cf, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{imagemeta.LabelCapabilities: label}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		log.Fatal(err)
	}
	return img
}

// A registry image whose label claims no capabilities while its layer
// gives cap_sys_admin: reading it (the default) catches the forged label;
// reading only the label (an explicit option) yields an image marked
// unverified, which no audit passes.
func Example() {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(r, capsImage("/app/tool", "cap_sys_admin=ep", "{}")); err != nil {
		log.Fatal(err)
	}
	// Plain HTTP to a registry on this machine; no host credentials.
	reach := registry.Options{Insecure: true, Keychain: authn.NewMultiKeychain()}

	_, _, err = source.Read(ref, source.Options{Registry: reach})
	fmt.Println("forged label caught:", errors.Is(err, imagemeta.ErrMismatch))

	in, rep, err := source.Read(ref, source.Options{Registry: reach, LabelOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.Kind, len(in.Images), "image, label", in.Images[0].Metadata.Label.Encode())
	im := rep.Images[0]
	fmt.Println("files:", len(im.Files()), "from:", im.FilesFrom())
	res := policy.Audit(rep, policy.Default("pss-restricted"))
	fmt.Println("verified:", res.Verified, "passed:", res.Passed, "finding:", res.Findings[0].Rule)
	// Output:
	// forged label caught: true
	// registry 1 image, label {}
	// files: 0 from: label-unverified
	// verified: false passed: false finding: unverified-capabilities
}
