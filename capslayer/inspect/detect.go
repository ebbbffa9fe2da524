// This file tells the kinds of local input apart: a layer tar, an OCI image
// layout directory, an oci-archive tar and a docker save tarball.

package inspect

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// detect tells a layout directory, a docker save tarball and a layer apart.
func detect(in input, o *tarfs.Limits) (string, error) {
	fi, err := fs.Stat(in.fsys, in.name)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		if _, err := fs.Stat(in.fsys, path.Join(in.name, "index.json")); err != nil {
			return "", fmt.Errorf("%s is a directory but not an OCI image layout (no index.json)", in.path)
		}
		return KindOCILayout, nil
	}
	f, _, err := openRegular(in.fsys, in.name, in.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 6)
	n, _ := io.ReadFull(f, head)
	if c, err := compression.Sniff(head[:n]); err != nil || c != compression.None {
		// Compressed: a layer (docker save tarballs are plain tars).
		return KindLayer, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	// A docker save tarball has manifest.json at its root; reading only the
	// headers is cheap because tar seeks over the contents of a regularFile.
	// An OCI layout packed in a tar (podman save --format oci-archive,
	// skopeo oci-archive:) has oci-layout and index.json at its root.
	tr := tar.NewReader(f)
	var ociLayout, ociIndex bool
	for i := 0; i < o.MaxEntries; i++ {
		hdr, err := tr.Next()
		if err != nil {
			break // tarfs.Walk reports what is wrong with a broken tar
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		switch path.Clean("/" + hdr.Name) {
		case "/manifest.json":
			// Whatever it holds: a docker save tarball whose manifest.json
			// is garbage, null or [] is an error (readDockerArchive says
			// which), never a layer that happens to hold a manifest.json
			// and so passes an audit with nothing read.
			return KindDockerArchive, nil
		case "/oci-layout":
			ociLayout = true
		case "/index.json":
			ociIndex = true
		}
	}
	if ociLayout && ociIndex {
		return KindOCIArchive, nil
	}
	return KindLayer, nil
}
