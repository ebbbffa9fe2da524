package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/digest"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// Write writes a layer holding files to w and describes it. Nothing is
// written when files or opts are invalid or a source is not a readable
// regular file; an I/O error may leave a partial layer in w (WriteFile
// does not).
func Write(w io.Writer, files []File, opts ...Option) (_ *Result, err error) {
	defer errprefix.Add(&err, "layer")
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.descriptorPath != "" {
		return nil, errors.New("WithDescriptorFile only applies to WriteFile, not Write")
	}
	entries, warnings, err := plan(files, o)
	if err != nil {
		return nil, err
	}
	return write(w, entries, warnings, o)
}

// write writes the planned entries to w.
func write(w io.Writer, entries []entry, warnings []string, o *options) (*Result, error) {

	// The stream: tar -> hashSink (diff_id) -> [compressor -> digest] ->
	// w. See pipeline.go. An uncompressed layer's digest is its diff_id.
	// The compressed stream is hashed on the caller's goroutine (its buffers
	// belong to the compressor); the tar stream on the hashSink's.
	out, err := newBlobWriter(w, o.compression)
	if err != nil {
		return nil, err
	}
	sink := newHashSink(out.next, out.diffID)
	finished := false
	defer func() {
		if !finished {
			sink.finish()
		}
	}()

	tw := tar.NewWriter(sink)
	mtime := time.Unix(o.mtime, 0)
	c := newCopier(sink)
	infos := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		if e.dir {
			hdr := &tar.Header{
				Typeflag: tar.TypeDir,
				Name:     e.name,
				Mode:     DirMode,
				ModTime:  mtime,
				Format:   tar.FormatPAX,
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, fmt.Errorf("write directory entry %q: %w", e.name, err)
			}
			continue
		}
		info, err := writeFile(tw, c, e, o, mtime)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finish tar: %w", err)
	}
	sink.finish() // the diff_id is complete
	finished = true
	d, err := out.finish(infos)
	if err != nil {
		return nil, err
	}
	return &Result{Descriptor: d, Warnings: warnings}, nil
}

// blobWriter is the output end of a layer: the tar stream goes to next,
// which compresses it (unless uncompressed) and writes it to w, computing
// the layer's digest, size and diff_id on the way. The caller hashes the
// tar stream into diffID (write does it on the hashSink's goroutine); for
// an uncompressed layer diffID is the blob's digest itself.
type blobWriter struct {
	next         io.Writer
	diffID, blob *digest.Writer
	zw           io.WriteCloser
	c            Compression
}

func newBlobWriter(w io.Writer, c Compression) (*blobWriter, error) {
	b := &blobWriter{blob: digest.New(), c: c}
	zw, err := compression.NewWriter(io.MultiWriter(b.blob, w), c)
	if err != nil {
		return nil, err
	}
	b.zw, b.diffID, b.next = zw, b.blob, w
	if c != None {
		b.diffID, b.next = digest.New(), zw
	}
	return b, nil
}

// finish ends the compressed stream and describes the layer.
func (b *blobWriter) finish(files []FileInfo) (Descriptor, error) {
	if err := b.zw.Close(); err != nil {
		return Descriptor{}, fmt.Errorf("finish %s stream: %w", b.c, err)
	}
	return Descriptor{
		MediaType: compression.MediaType(b.c),
		Digest:    b.blob.Digest(),
		Size:      b.blob.Size(),
		DiffID:    b.diffID.Digest(),
		Files:     files,
	}, nil
}

// writeFile writes the header and contents of one file entry.
func writeFile(tw *tar.Writer, c *copier, e entry, o *options, mtime time.Time) (FileInfo, error) {
	f := e.file
	src, err := os.Open(f.Source)
	if err != nil {
		return FileInfo{}, fmt.Errorf("%s: source: %w", f.Path, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return FileInfo{}, fmt.Errorf("%s: source: %w", f.Path, err)
	}
	if err := checkRegular(f, fi); err != nil {
		return FileInfo{}, err
	}
	if fi.Size() != e.size {
		return FileInfo{}, fmt.Errorf("%s: source %q: %w (size %d, then %d)", f.Path, f.Source, ErrChanged, e.size, fi.Size())
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     e.name,
		Size:     e.size,
		Mode:     o.mode,
		Uid:      o.uid,
		Gid:      o.gid,
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}
	if e.caps != nil {
		hdr.PAXRecords = map[string]string{caps.PAXRecordKey: string(e.caps.raw)}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return FileInfo{}, fmt.Errorf("write entry %q: %w", e.name, err)
	}
	if err := c.copyN(tw, src, e.size); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return FileInfo{}, fmt.Errorf("%s: source %q: %w (it shrank)", f.Path, f.Source, ErrChanged)
		}
		return FileInfo{}, fmt.Errorf("%s: copy %q: %w", f.Path, f.Source, err)
	}
	// A file that grew would be silently cut short: check it ended.
	var b [1]byte
	if n, _ := src.Read(b[:]); n != 0 {
		return FileInfo{}, fmt.Errorf("%s: source %q: %w (it grew)", f.Path, f.Source, ErrChanged)
	}
	text, xattr := e.caps.record()
	return FileInfo{
		Path:  f.Path,
		Caps:  text,
		Xattr: xattr,
		Mode:  fmt.Sprintf("%04o", o.mode),
		UID:   o.uid,
		GID:   o.gid,
		Size:  e.size,
	}, nil
}
