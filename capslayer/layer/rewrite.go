package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/internal/openfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SetCap names a regular file of an existing tar and the capabilities to
// give it (see Rewrite).
type SetCap struct {
	// Path is the file's absolute, clean path in the image ("/bin/ping").
	// Entry names in the tar may be stored with or without "./" or "/".
	Path string
	// Caps is the capabilities to give it, stored as in File.Caps.
	Caps caps.Xattr
}

// ErrRewrite is matched (errors.Is) by every error of Rewrite about the
// input tar and the named files: a *RewriteError.
var ErrRewrite = errors.New("cannot set capabilities in the tar")

// RewriteError is a named file that Rewrite cannot give capabilities to.
type RewriteError struct {
	Path    string // the file named in SetCap
	Problem string // what it is in the tar and how to fix the request
}

func (e *RewriteError) Error() string        { return e.Path + ": " + e.Problem }
func (e *RewriteError) Is(target error) bool { return target == ErrRewrite }

// Rewrite copies the layer tar read from in (plain, gzip or zstd) to w,
// compressed as WithCompression says, giving each named regular file its
// security.capability (set, or replaced if it had one; a LIBARCHIVE.xattr
// copy of an old value is dropped). Every other byte of the tar is copied
// unchanged: the other entries with their headers, PAX records (xattrs
// included), hard links, symlinks, whiteouts, long names and the padding
// after the end-of-archive marker. A named entry keeps its name, mode,
// owner, times and other PAX records, re-encoded as one PAX entry by
// archive/tar. The output depends only on the input and sets.
//
// Each named entry must be a regular file; a setuid, setgid or
// world-writable one is refused unless WithAllowUnsafeMode; capabilities
// it already had are replaced, with a warning in Result.Warnings (the rules
// CopyUp shares, except that CopyUp needs WithReplaceCapabilities to
// replace). Result.Files lists, in archive order, every
// entry of the output that carries capabilities: the named ones (Origin
// OriginSet), those the input already gave capabilities (OriginInput), and
// hard links to either, which share them.
//
// It fails, wrapping ErrRewrite, when a named path is missing from the tar,
// is not a regular file (a directory, a symlink, a hard link to another
// entry, which the error names, a device or a sparse file), appears twice
// in the tar, or is named twice; and, wrapping tarfs.ErrLimit, when the
// tar has more than tarfs.DefaultMaxEntries entries, which capslayer's
// readers would refuse. Only WithCompression, WithDescriptorFile
// (RewriteFile), WithAllowScripts and WithAllowUnsafeMode apply. w may hold
// a partial layer after an error; RewriteFile writes nothing then.
func Rewrite(w io.Writer, in io.Reader, sets []SetCap, opts ...Option) (_ *Result, err error) {
	defer errprefix.Add(&err, "layer")
	o, err := rewriteOptions(opts)
	if err != nil {
		return nil, err
	}
	o.replaceCaps = true // with a warning
	if o.descriptorPath != "" {
		return nil, errors.New("WithDescriptorFile only applies to RewriteFile, not Rewrite")
	}
	byPath, err := checkSets(sets)
	if err != nil {
		return nil, err
	}
	return rewrite(w, in, byPath, o)
}

// RewriteFile is Rewrite from the file in to the file out, atomically as
// WriteFile: on any error, out (and the descriptor) are left as they were.
func RewriteFile(out, in string, sets []SetCap, opts ...Option) (_ *Result, err error) {
	defer errprefix.Add(&err, "layer")
	o, err := rewriteOptions(opts)
	if err != nil {
		return nil, err
	}
	o.replaceCaps = true // with a warning
	if err := checkOutputs(out, o); err != nil {
		return nil, err
	}
	byPath, err := checkSets(sets)
	if err != nil {
		return nil, err
	}
	f, _, err := openfile.Regular(in, fmt.Sprintf("input tar %q", in))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if same, _ := sameFile(in, out); same {
		return nil, fmt.Errorf("input tar %q is also the output: write to another file", in)
	}
	if !o.digests && o.compression == None {
		// The file itself, so that the data of entries copied unchanged
		// can go from the input to it in the kernel (see recorder.Seek).
		return writeAtomicFile(out, o, func(w *os.File) (*Result, error) {
			return rewrite(w, f, byPath, o)
		})
	}
	return writeAtomic(out, o, func(w io.Writer) (*Result, error) {
		return rewrite(w, f, byPath, o)
	})
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

func rewriteOptions(opts []Option) (*options, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.mode != DefaultMode || o.uid != 0 || o.gid != 0 || o.mtime != 0 {
		return nil, errors.New("Rewrite keeps the mode, owner and mtime of the tar's entries: WithMode, WithOwner and WithModTime do not apply")
	}
	return o, nil
}

// checkSets validates the requested paths and encodes their values, by
// path.
func checkSets(sets []SetCap) (map[string]*capability, error) {
	if len(sets) == 0 {
		return nil, errors.New("no file named: give at least one path and its capabilities")
	}
	byPath := make(map[string]*capability, len(sets))
	for _, s := range sets {
		if err := pathError(s.Path); err != nil {
			return nil, err
		}
		if _, dup := byPath[s.Path]; dup {
			return nil, &RewriteError{Path: s.Path, Problem: "is named twice: give each file one set of capabilities"}
		}
		c, err := encodeCapability(s.Path, &s.Caps)
		if err != nil {
			return nil, err
		}
		byPath[s.Path] = c
	}
	return byPath, nil
}

// recorder passes on what the tar reader reads from the decompressed input:
// to sink if set (entry data), else into held until the caller decides
// whether to copy it (an entry not named) or replace it (a named entry's
// header). pos counts every byte read.
//
// An uncompressed input file copied to an output file can also pass on an
// entry's data without reading it (kernel mode: in and out are set and r is
// in itself, unbuffered): the caller sets owed to the data's size and lets
// tar.Reader.Next skip it. Next skips data with Seek(0), Seek(n-1), then a
// read of the last byte; Seek copies the n-1 bytes from in to out with
// io.CopyN, which is copy_file_range(2) on Linux, and the last byte goes to
// out through Read. The rest (padding, headers) is read as usual.
type recorder struct {
	r    io.Reader
	sink io.Writer
	held bytes.Buffer
	pos  int64

	in, out *os.File
	owed    int64 // data bytes that go to out before anything is held again
	// phantom counts data bytes of a named entry that setCapability has
	// already copied from in to out: tar.Reader still skips them, and
	// Seek and Read serve them without reading in.
	phantom int64
}

func (rc *recorder) Read(p []byte) (int, error) {
	if rc.phantom > 0 {
		n := int(min(int64(len(p)), rc.phantom))
		clear(p[:n])
		rc.phantom -= int64(n)
		rc.pos += int64(n)
		return n, nil
	}
	if rc.owed > 0 && int64(len(p)) > rc.owed {
		p = p[:rc.owed]
	}
	n, err := rc.r.Read(p)
	rc.pos += int64(n)
	switch {
	case rc.owed > 0:
		rc.owed -= int64(n)
		if _, werr := rc.out.Write(p[:n]); werr != nil {
			return n, werr
		}
	case rc.sink == nil:
		rc.held.Write(p[:n])
	default:
		if _, werr := rc.sink.Write(p[:n]); werr != nil {
			return n, werr
		}
	}
	return n, err
}

var errNoSeek = errors.New("recorder: no data owed")

// kernelCopied counts the bytes recorders handed to the kernel, for tests.
var kernelCopied atomic.Int64

// Seek implements the two seeks of tar's skipping of owed data: to the
// current position, and then to the data's last byte, copying the bytes in
// between to out. Any other seek fails, and tar reads instead.
func (rc *recorder) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekCurrent && rc.phantom >= 2 && (offset == 0 || offset == rc.phantom-1) {
		rc.phantom -= offset
		rc.pos += offset
		return rc.pos, nil
	}
	if whence != io.SeekCurrent || rc.owed < 2 || (offset != 0 && offset != rc.owed-1) {
		return -1, errNoSeek
	}
	if offset == 0 {
		return rc.pos, nil
	}
	n, err := io.CopyN(rc.out, rc.in, offset)
	rc.pos += n
	rc.owed -= n
	kernelCopied.Add(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return rc.pos, err
}

// flush copies the held bytes to w.
func (rc *recorder) flush(w io.Writer) error {
	_, err := rc.held.WriteTo(w)
	return err
}

// The raw copy relies on archive/tar reading exactly the blocks of each
// header and exactly the bytes of each entry's data from its reader (it
// neither reads ahead nor buffers), which lets the bytes of every entry not
// named be copied as they were, not re-encoded. archive/tar alone would
// rewrite every header (GNU long names, field encodings, record order).
func rewrite(w io.Writer, in io.Reader, sets map[string]*capability, o *options) (*Result, error) {
	rec := &recorder{}
	var dr io.Reader
	var out *blobWriter
	var tarOut io.Writer
	if kernelIn, kernelOut := kernelFiles(in, w, o); kernelIn != nil {
		rec.in, rec.out = kernelIn, kernelOut
		dr, tarOut = kernelIn, kernelOut
	} else {
		zr, _, err := compression.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("input tar: %w", err)
		}
		defer zr.Close()
		if out, err = newBlobWriter(w, o.compression); err != nil {
			return nil, err
		}
		dr, tarOut = zr, io.MultiWriter(out.diffID, out.next)
	}
	rec.r = dr
	tr := tar.NewReader(rec)
	type seenEntry struct {
		index int
		kind  string
	}
	seen := map[string]seenEntry{} // entries at a named path
	var list capLister
	var warnings []string
	var dataEnd int64 // input offset where the previous entry's data ended
	prevNamed := false
	entries := 0
	for index := 1; ; index++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("input tar: entry %d: %w", index, err)
		}
		if entries++; entries > o.maxEntries {
			return nil, fmt.Errorf("input tar: %w: more than %d entries, the most capslayer's readers (inspect, audit, image) take in one layer, so they would refuse the output; split the tar into several layers", tarfs.ErrLimit, o.maxEntries)
		}
		name, err := tarfs.CleanName(hdr.Name)
		if err != nil {
			return nil, fmt.Errorf("input tar: entry %d: %w", index, err)
		}
		c, named := sets[name]
		if named {
			if prev, dup := seen[name]; dup {
				return nil, &RewriteError{Path: name, Problem: fmt.Sprintf("appears twice in the tar (entries %d and %d, a %s and a %s): the later one wins when extracted; fix the tar first", prev.index, index, prev.kind, entryKind(hdr))}
			}
			seen[name] = seenEntry{index, entryKind(hdr)}
		}
		// The held bytes are the previous entry's padding, then this
		// entry's header blocks. A named entry's padding was written
		// with its new header by setCapability.
		padding := rec.held.Next(int((-dataEnd) & 511))
		if !prevNamed {
			if _, err := tarOut.Write(padding); err != nil {
				return nil, err
			}
		}
		prevNamed = named
		if !named {
			target, err := list.input(name, hdr)
			if err != nil {
				return nil, fmt.Errorf("input tar: entry %d: %w", index, err)
			}
			if target != "" {
				warnings = append(warnings, fmt.Sprintf("%s is also in the image as %s, a hard link to it, which gets the same capabilities", target, printable.String(name)))
			}
			if err := rec.flush(tarOut); err != nil {
				return nil, err
			}
			if n, ok := kernelData(hdr); ok && rec.in != nil {
				// tr.Next skips the data; rec copies it (see recorder).
				rec.owed = n
				dataEnd = rec.pos + n
				continue
			}
			rec.sink = tarOut // the data, as it was
			_, err = io.Copy(io.Discard, tr)
			rec.sink = nil
			if err != nil {
				return nil, fmt.Errorf("input tar: %s: %w", printable.String(name), err)
			}
			dataEnd = rec.pos
			continue
		}
		ce, err := setEntryCaps(name, hdr, c, o)
		if err != nil {
			return nil, err
		}
		if ce.warning != "" {
			warnings = append(warnings, ce.warning)
		}
		rec.held.Reset()      // the header, replaced by setCapability's
		rec.sink = io.Discard // the original data, copied by setCapability
		warn, err := setCapability(tarOut, tr, rec, ce.header, name, o)
		rec.sink = nil
		if err != nil {
			return nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
		dataEnd = rec.pos + rec.phantom
		list.add(ce.info)
	}
	// The end-of-archive marker, and whatever padding follows it.
	padding := rec.held.Next(int((-dataEnd) & 511))
	if !prevNamed {
		if _, err := tarOut.Write(padding); err != nil {
			return nil, err
		}
	}
	if rec.held.Len() < 1024 || !isZero(rec.held.Bytes()[rec.held.Len()-1024:]) {
		return nil, errors.New("input tar: truncated: the end-of-archive marker (two zero blocks) is missing")
	}
	if err := rec.flush(tarOut); err != nil {
		return nil, err
	}
	// Only zero padding may follow (GNU tar fills its last 10 KiB record);
	// entries there are hidden from most readers, and capslayer's refuse them.
	if _, err := io.Copy(zeroWriter{tarOut}, dr); err != nil {
		return nil, fmt.Errorf("input tar: after the end-of-archive marker: %w", err)
	}
	var missing []string
	for p := range sets {
		if _, ok := seen[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, &RewriteError{Path: missing[0], Problem: fmt.Sprintf("is not in the tar (%d entries; missing: %s): check the path, as `tar -tvf` lists it", entries, strings.Join(missing, ", "))}
	}
	if rec.owed != 0 {
		return nil, fmt.Errorf("input tar: truncated in the data of its last entry")
	}
	if out == nil {
		return &Result{Descriptor: Descriptor{MediaType: compression.MediaType(None), Files: list.infos}, Warnings: warnings}, nil
	}
	d, err := out.finish(list.infos)
	if err != nil {
		return nil, err
	}
	if !o.digests {
		d.Digest, d.DiffID, d.Size = v1.Hash{}, v1.Hash{}, 0
	}
	return &Result{Descriptor: d, Warnings: warnings}, nil
}

// kernelFiles returns the input and output files when the data of entries
// copied unchanged can go from one to the other in the kernel: no digests
// are wanted, the output is an uncompressed tar written to an *os.File, and
// the input an uncompressed tar read from an *os.File. It reads the input's
// first bytes with ReadAt, leaving its offset where it was.
func kernelFiles(in io.Reader, w io.Writer, o *options) (*os.File, *os.File) {
	inFile, ok1 := in.(*os.File)
	outFile, ok2 := w.(*os.File)
	if !ok1 || !ok2 || o.digests || o.compression != None {
		return nil, nil
	}
	off, err := inFile.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, nil
	}
	head := make([]byte, compression.SniffLen)
	n, err := inFile.ReadAt(head, off)
	if err != nil && err != io.EOF {
		return nil, nil
	}
	if c, err := compression.Sniff(head[:n]); err != nil || c != None {
		return nil, nil
	}
	return inFile, outFile
}

// kernelData returns the size of the data tar.Reader skips after hdr when
// it is worth a kernel copy: an entry of a regular file of more than one
// byte, not sparse (whose data in the archive is not hdr.Size bytes).
func kernelData(hdr *tar.Header) (int64, bool) {
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA || hdr.Size < 2 {
		return 0, false
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return 0, false
		}
	}
	return hdr.Size, true
}

// zeroWriter passes on zero bytes and fails on anything else.
type zeroWriter struct{ w io.Writer }

func (z zeroWriter) Write(p []byte) (int, error) {
	if !isZero(p) {
		return 0, errors.New("data follows the end-of-archive marker (two tars concatenated?): capslayer's readers refuse it; fix the tar first")
	}
	return z.w.Write(p)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// setCapability writes h, the new header of the named file p (see
// setEntryCaps), and copies the entry's data from tr, refusing a script
// unless WithAllowScripts.
func setCapability(w io.Writer, tr *tar.Reader, rec *recorder, h *tar.Header, p string, o *options) (string, error) {
	var warn string
	head := make([]byte, 2)
	n, err := io.ReadFull(tr, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("input tar: %s: %w", p, err)
	}
	head = head[:n]
	if string(head) == "#!" {
		if !o.allowScripts {
			return "", fmt.Errorf("%s: the file in the tar is a script (it starts with \"#!\"): the kernel runs its interpreter, not the script, so give the capabilities to a compiled binary (or to the interpreter) instead (%w)", p, ErrScript)
		}
		warn = fmt.Sprintf("%s starts with \"#!\": the kernel ignores file capabilities on scripts, so it will run without them", p)
	}
	if rest := h.Size - int64(len(head)); rec.in != nil && rest > 1 {
		// Kernel mode: the header as archive/tar encodes it (see
		// tarWriter), the data from the input file by the kernel, zero
		// padding; tar.Reader then skips the data as phantom bytes.
		var hb bytes.Buffer
		if err := tar.NewWriter(&hb).WriteHeader(h); err != nil {
			return "", fmt.Errorf("%s: encode the new header: %w", p, err)
		}
		hb.Write(head)
		if _, err := w.Write(hb.Bytes()); err != nil {
			return "", err
		}
		n, err := io.CopyN(rec.out, rec.in, rest)
		kernelCopied.Add(n)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return "", fmt.Errorf("input tar: %s: %w", p, err)
		}
		if _, err := w.Write(zeroBlock[:(-h.Size)&(blockSize-1)]); err != nil {
			return "", err
		}
		rec.phantom = rest
		return warn, nil
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(h); err != nil {
		return "", fmt.Errorf("%s: encode the new header: %w", p, err)
	}
	if _, err := tw.Write(head); err != nil {
		return "", err
	}
	if _, err := io.Copy(tw, tr); err != nil {
		return "", fmt.Errorf("input tar: %s: %w", p, err)
	}
	if err := tw.Flush(); err != nil { // pads the data; no end marker
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return warn, nil
}
