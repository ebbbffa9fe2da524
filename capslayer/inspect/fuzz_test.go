package inspect

import (
	"archive/tar"
	"bytes"
	"path"
	"strings"
	"testing"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// FuzzLayerReader feeds arbitrary bytes to LayerReader. It must never panic
// or hang, and what it returns must hold the package's promises: clean
// absolute paths, bounded raw values, and Invalid set exactly when the value
// does not decode.
func FuzzLayerReader(f *testing.F) {
	for _, l := range shadowLayers(f) {
		f.Add(l)
	}
	good := makeTar(f, dir("app/"), file("app/server", "ELF", netBindEP), entry{Name: "app/l", Type: tar.TypeLink, Link: "app/server"})
	f.Add(good)
	f.Add(gzipBytes(f, good))
	f.Add(zstdBytes(f, good))
	f.Add(good[:700])
	f.Add(makeTar(f, file("../../etc/x", "x", netBindEP)))
	f.Add(makeTar(f, file("a", "x", []byte{1, 2, 3})))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := LayerReader(bytes.NewReader(b), tarfs.WithMaxLayerSize(1<<20), tarfs.WithMaxEntries(1<<14))
		if err != nil {
			return
		}
		for _, fl := range files {
			if !strings.HasPrefix(fl.Path, "/") || path.Clean(fl.Path) != fl.Path || strings.Contains(fl.Path, "..") && strings.Contains("/"+fl.Path+"/", "/../") {
				t.Fatalf("unclean path %q", fl.Path)
			}
			if len(fl.Raw) > 1024 { // tarfs keeps at most 1 KiB of a value
				t.Fatalf("raw value of %d bytes", len(fl.Raw))
			}
			_, derr := caps.Decode(fl.Raw)
			if (derr != nil) != (fl.Invalid != "") && fl.Type != "hardlink" {
				t.Fatalf("%s: decode error %v but Invalid %q", fl.Path, derr, fl.Invalid)
			}
			if fl.Layer != 0 || fl.ShadowedBy > 0 {
				t.Fatalf("%s: layer %d shadowed by %d", fl.Path, fl.Layer, fl.ShadowedBy)
			}
		}
	})
}
