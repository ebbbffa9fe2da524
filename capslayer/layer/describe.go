package layer

import (
	"archive/tar"
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/digest"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// Describe reads a layer blob compressed with c from r and returns the
// Descriptor that WithDescriptorFile writes beside it: the blob's media
// type, digest and size, the diff_id of its tar, and one FileInfo per
// regular file, in archive order. With paths, the list is Rewrite's for
// those named paths: each must be a regular file in the layer once and is
// listed with Origin OriginSet, and every other entry that carries
// capabilities (a hard link to one included) with Origin OriginInput.
//
// Describe is how a build describes a layer only when something needs the
// digest: writing the layer alone hashes nothing. For a layer written by
// Write or Rewrite it returns exactly the Descriptor they returned (for
// Rewrite, given the named paths). It fails when the blob is not a tar
// compressed with c or a security.capability value is not one the kernel
// loads.
func Describe(r io.Reader, c Compression, paths []string) (_ Descriptor, err error) {
	defer errprefix.Add(&err, "layer")
	return describe(r, c, paths)
}

func describe(r io.Reader, c Compression, paths []string) (Descriptor, error) {
	var want map[string]bool
	if paths != nil {
		want = make(map[string]bool, len(paths))
		for _, p := range paths {
			if err := pathError(p); err != nil {
				return Descriptor{}, err
			}
			if _, dup := want[p]; dup {
				return Descriptor{}, fmt.Errorf("%s is named twice: name each file once", p)
			}
			want[p] = false // true once found
		}
	}
	// The stream: r -> blob digest -> [decompressor -> diff_id digest] ->
	// tar reader. An uncompressed layer's diff_id is its digest.
	blob := digest.New()
	raw := io.TeeReader(bufio.NewReaderSize(r, 1<<20), blob)
	dr, got, err := compression.NewReader(raw)
	if err != nil {
		return Descriptor{}, fmt.Errorf("layer blob: %w", err)
	}
	defer dr.Close()
	if got != c {
		return Descriptor{}, fmt.Errorf("layer blob is %s, not %s as its name or --compression says: give the layer's own compression", describeCompression(got), describeCompression(c))
	}
	diffID := blob
	var tarStream io.Reader = dr
	if c != None {
		diffID = digest.New()
		tarStream = io.TeeReader(dr, diffID)
	}
	var files []FileInfo
	var list capLister // with paths
	tr := tar.NewReader(tarStream)
	for index := 1; ; index++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Descriptor{}, fmt.Errorf("layer tar: entry %d: %w", index, err)
		}
		regular := hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA
		if !regular && want == nil {
			continue
		}
		name, err := tarfs.CleanName(hdr.Name)
		if err != nil {
			return Descriptor{}, fmt.Errorf("layer tar: entry %d: %w", index, err)
		}
		if want != nil {
			found, named := want[name]
			if !named || !regular {
				if _, err := list.input(name, hdr); err != nil {
					return Descriptor{}, fmt.Errorf("layer tar: entry %d: %w", index, err)
				}
				continue
			}
			if found {
				return Descriptor{}, fmt.Errorf("%s is in the layer twice (again as entry %d)", name, index)
			}
			want[name] = true
		}
		info := FileInfo{
			Path: name,
			Mode: fmt.Sprintf("%04o", hdr.Mode&0o7777),
			UID:  hdr.Uid,
			GID:  hdr.Gid,
			Size: hdr.Size,
		}
		if v, ok := hdr.PAXRecords[caps.PAXRecordKey]; ok {
			x, err := caps.Decode([]byte(v))
			if err != nil {
				return Descriptor{}, fmt.Errorf("%s: %w", name, err)
			}
			info.Caps, info.Xattr = x.String(), hex.EncodeToString([]byte(v))
		}
		if want != nil {
			info.Origin = OriginSet
			list.add(info)
			continue
		}
		files = append(files, info)
	}
	if want != nil {
		files = list.infos
	}
	// The digests cover the whole blob: the tar's trailing padding and, for
	// a compressed layer, the end of the compressed stream.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		return Descriptor{}, fmt.Errorf("layer tar: after the end-of-archive marker: %w", err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return Descriptor{}, fmt.Errorf("layer blob: %w", err)
	}
	var missing []string
	for p, found := range want {
		if !found {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Descriptor{}, fmt.Errorf("not a regular file of the layer: %s", strings.Join(missing, ", "))
	}
	return Descriptor{
		MediaType: compression.MediaType(c),
		Digest:    blob.Digest(),
		Size:      blob.Size(),
		DiffID:    diffID.Digest(),
		Files:     files,
	}, nil
}

// DescribeFile describes the layer file layerPath (see Describe) and, when
// descriptorPath is not empty, writes the descriptor there as
// WithDescriptorFile does, atomically: on any error it is left as it was.
func DescribeFile(layerPath, descriptorPath string, c Compression, paths []string) (_ Descriptor, err error) {
	defer errprefix.Add(&err, "layer")
	if descriptorPath != "" {
		if err := atomicfile.Check("descriptor", descriptorPath, "layer.json"); err != nil {
			return Descriptor{}, err
		}
		if filepath.Clean(descriptorPath) == filepath.Clean(layerPath) {
			return Descriptor{}, fmt.Errorf("descriptor %q is the layer too: give it another name, e.g. %q", descriptorPath, layerPath+".json")
		}
	}
	f, err := os.Open(layerPath)
	if err != nil {
		return Descriptor{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Descriptor{}, err
	}
	if !fi.Mode().IsRegular() {
		return Descriptor{}, fmt.Errorf("layer %q is not a regular file (%s): give a layer tar", layerPath, fi.Mode().Type())
	}
	d, err := describe(f, c, paths)
	if err != nil {
		return Descriptor{}, fmt.Errorf("%s: %w", layerPath, err)
	}
	if descriptorPath == "" {
		return d, nil
	}
	js, err := d.MarshalIndent()
	if err != nil {
		return Descriptor{}, err
	}
	if err := atomicfile.WriteFile(descriptorPath, js); err != nil {
		return Descriptor{}, err
	}
	return d, nil
}

// describeCompression names c for messages.
func describeCompression(c Compression) string {
	if c == None {
		return "an uncompressed tar"
	}
	return string(c) + "-compressed"
}
