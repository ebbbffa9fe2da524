package layer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

// WriteFile writes a layer holding files to path, and its descriptor when
// WithDescriptorFile is given, through capslayer/internal/atomicfile: the
// outputs are written to temporary files beside their targets and renamed
// into place at the end, while holding a lock that keeps concurrent writers
// of the same path apart. On any error neither target is created or
// replaced and no temporary file is left; temporary files of an earlier
// run that was killed are removed first. The descriptor, when present,
// always describes the layer beside it: it is removed before the layer is
// replaced and renamed into place after it.
func WriteFile(path string, files []File, opts ...Option) (_ *Result, err error) {
	defer errprefix.Add(&err, "layer")
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkOutputs(path, o); err != nil {
		return nil, err
	}
	// Validate before locking or creating anything.
	entries, warnings, err := plan(files, o)
	if err != nil {
		return nil, err
	}
	if !o.digests && o.compression == None {
		// The file itself, so that io.Copy can hand the contents to the
		// kernel; tarWriter gathers the headers and padding.
		return writeAtomicFile(path, o, func(f *os.File) (*Result, error) {
			return write(f, entries, warnings, o)
		})
	}
	return writeAtomic(path, o, func(w io.Writer) (*Result, error) {
		return write(w, entries, warnings, o)
	})
}

// checkOutputs checks the layer and descriptor paths before any work.
func checkOutputs(path string, o *options) error {
	if err := atomicfile.Check("output", path, "layer.tar"); err != nil {
		return err
	}
	if o.descriptorPath != "" {
		if err := atomicfile.Check("descriptor", o.descriptorPath, "layer.json"); err != nil {
			return err
		}
		if filepath.Clean(o.descriptorPath) == filepath.Clean(path) {
			return fmt.Errorf("descriptor %q is the layer output too: give it another name, e.g. %q", o.descriptorPath, path+".json")
		}
	}
	return nil
}

// writeAtomic runs write on the temporary layer file, through a buffer
// that gathers small writes, and commits the layer and its descriptor
// (WithDescriptorFile) together, or neither.
func writeAtomic(path string, o *options, write func(io.Writer) (*Result, error)) (*Result, error) {
	return writeAtomicFile(path, o, func(f *os.File) (*Result, error) {
		bw := bufio.NewWriterSize(f, 64<<10) // gathers tar headers; large chunks bypass it
		res, err := write(bw)
		if err != nil {
			return nil, err
		}
		if err := bw.Flush(); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		return res, nil
	})
}

// writeAtomicFile runs write on the temporary layer file itself and
// commits the layer and its descriptor (WithDescriptorFile) together, or
// neither.
func writeAtomicFile(path string, o *options, write func(*os.File) (*Result, error)) (*Result, error) {
	var lf, df *atomicfile.File
	var commit func() error
	if o.descriptorPath == "" {
		f, err := atomicfile.Create(path)
		if err != nil {
			return nil, err
		}
		defer f.Discard()
		lf, commit = f, f.Commit
	} else {
		p, err := atomicfile.CreatePair(path, o.descriptorPath)
		if err != nil {
			return nil, err
		}
		defer p.Discard()
		lf, df, commit = p.First, p.Second, p.Commit
	}
	res, err := write(lf.File)
	if err != nil {
		return nil, err
	}
	if df != nil {
		js, err := res.Descriptor.MarshalIndent()
		if err != nil {
			return nil, err
		}
		if _, err := df.Write(js); err != nil {
			return nil, fmt.Errorf("write %s: %w", o.descriptorPath, err)
		}
	}
	if err := commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// MarshalIndent returns the JSON form of d, indented by two spaces and
// ending in a newline, as WithDescriptorFile writes it.
func (d Descriptor) MarshalIndent() (_ []byte, err error) {
	defer errprefix.Add(&err, "layer")
	if d.Files == nil {
		d.Files = []FileInfo{}
	}
	js, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode descriptor: %w", err)
	}
	return append(js, '\n'), nil
}
