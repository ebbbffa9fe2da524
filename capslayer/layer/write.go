package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/digest"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// write writes the planned entries to w, hashing them unless
// WithDigests(false) was given.
func write(w io.Writer, entries []entry, warnings []string, o *options) (*Result, error) {
	if !o.digests && o.compression == None {
		return writeUnhashed(w, entries, warnings, o)
	}

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
	c := newCopier(sink)
	tw := &tarWriter{w: sink, body: func(src *os.File, n int64) error { return c.copyN(sink, src, n) }}
	infos, err := writeEntries(tw, entries, o)
	if err != nil {
		return nil, err
	}
	sink.finish() // the diff_id is complete
	finished = true
	d, err := out.finish(infos)
	if err != nil {
		return nil, err
	}
	if !o.digests {
		// A compressed layer takes the hashing path even so: the
		// compressor's output depends on how the tar stream is cut into
		// writes, and hashing, on its own goroutine, costs little next to
		// compressing.
		d.Digest, d.DiffID, d.Size = v1.Hash{}, v1.Hash{}, 0
	}
	return &Result{Descriptor: d, Warnings: warnings}, nil
}

// writeUnhashed writes the planned entries to w as an uncompressed tar
// without hashing them. When w is an *os.File (WriteFile), each file's
// contents go from its source to w with io.Copy, which on Linux copies in
// the kernel (copy_file_range(2)) and falls back to read and write where
// that fails (another file system, an old kernel).
func writeUnhashed(w io.Writer, entries []entry, warnings []string, o *options) (*Result, error) {
	tw := &tarWriter{w: w, body: func(src *os.File, n int64) error {
		_, err := io.CopyN(w, src, n)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}}
	infos, err := writeEntries(tw, entries, o)
	if err != nil {
		return nil, err
	}
	return &Result{Descriptor: Descriptor{MediaType: compression.MediaType(None), Files: infos}, Warnings: warnings}, nil
}

// writeEntries writes the tar archive of the planned entries to tw.
func writeEntries(tw *tarWriter, entries []entry, o *options) ([]FileInfo, error) {
	mtime := time.Unix(o.mtime, 0)
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
			if err := tw.header(hdr); err != nil {
				return nil, fmt.Errorf("write directory entry %q: %w", e.name, err)
			}
			continue
		}
		info, err := writeFile(tw, e, o, mtime)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	if err := tw.close(); err != nil {
		return nil, fmt.Errorf("finish tar: %w", err)
	}
	return infos, nil
}

// tarWriter writes a tar archive as archive/tar's Writer does, byte for
// byte, but hands each file's contents to body instead of passing them
// through its own Write: archive/tar would hide the destination file from
// io.Copy, and so from copy_file_range. The headers are archive/tar's own
// encoding (a fresh tar.Writer per entry writes exactly that entry's header
// blocks: it keeps no state across entries that changes them); tarWriter
// adds the zero padding after the contents and the end-of-archive marker.
// Headers and padding are gathered in pend and written together, once per
// file.
type tarWriter struct {
	w    io.Writer
	body func(src *os.File, n int64) error // copies exactly n bytes of src to w
	pend bytes.Buffer
	size int64 // contents still owed by the current entry
}

// header encodes hdr after the previous entry's padding.
func (t *tarWriter) header(hdr *tar.Header) error {
	if t.size != 0 {
		return fmt.Errorf("entry %q follows an entry missing %d bytes of contents", hdr.Name, t.size)
	}
	if err := tar.NewWriter(&t.pend).WriteHeader(hdr); err != nil {
		return err
	}
	t.size = hdr.Size
	return nil
}

// contents writes the current entry's header and padding so far, then
// copies its n bytes of contents from src, then pads them to a block.
func (t *tarWriter) contents(src *os.File, n int64) error {
	if n != t.size {
		return fmt.Errorf("entry has %d bytes of contents, not %d", t.size, n)
	}
	if n == 0 {
		return nil
	}
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.body(src, n); err != nil {
		return err
	}
	t.size = 0
	t.pend.Write(zeroBlock[:(-n)&(blockSize-1)])
	return nil
}

// close writes the end-of-archive marker, two zero blocks, and everything
// pending.
func (t *tarWriter) close() error {
	if t.size != 0 {
		return fmt.Errorf("the last entry is missing %d bytes of contents", t.size)
	}
	t.pend.Write(zeroBlock[:])
	t.pend.Write(zeroBlock[:])
	return t.flush()
}

func (t *tarWriter) flush() error {
	if t.pend.Len() == 0 {
		return nil
	}
	_, err := t.w.Write(t.pend.Bytes())
	t.pend.Reset()
	return err
}

const blockSize = 512

var zeroBlock [blockSize]byte

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
func writeFile(tw *tarWriter, e entry, o *options, mtime time.Time) (FileInfo, error) {
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
	if err := tw.header(hdr); err != nil {
		return FileInfo{}, fmt.Errorf("write entry %q: %w", e.name, err)
	}
	if err := tw.contents(src, e.size); err != nil {
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
