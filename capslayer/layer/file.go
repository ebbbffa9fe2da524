package layer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// outputPerm is the permission of written files, set explicitly so that the
// umask does not decide it.
const outputPerm = 0o644

// WriteFile writes a layer holding files to path, and its descriptor when
// WithDescriptorFile is given. The outputs are written to temporary files
// beside their targets and renamed into place at the end: on any error
// neither target is created or replaced, and no temporary file is left.
func WriteFile(path string, files []File, opts ...Option) (*Result, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkOutput("output", path); err != nil {
		return nil, err
	}
	if o.descriptorPath != "" {
		if err := checkOutput("descriptor", o.descriptorPath); err != nil {
			return nil, err
		}
		if filepath.Clean(o.descriptorPath) == filepath.Clean(path) {
			return nil, fmt.Errorf("descriptor %q is the layer output too: give it another name, e.g. %q", o.descriptorPath, path+".json")
		}
	}

	lt, err := newTempFile(path)
	if err != nil {
		return nil, err
	}
	defer lt.discard()
	bw := bufio.NewWriterSize(lt.f, 64<<10) // gathers tar headers; large chunks bypass it
	res, err := write(bw, files, o)
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := lt.close(); err != nil {
		return nil, err
	}

	if o.descriptorPath == "" {
		if err := lt.commit(); err != nil {
			return nil, err
		}
		return res, nil
	}
	dt, err := newTempFile(o.descriptorPath)
	if err != nil {
		return nil, err
	}
	defer dt.discard()
	js, err := res.Descriptor.MarshalIndent()
	if err != nil {
		return nil, err
	}
	if _, err := dt.f.Write(js); err != nil {
		return nil, fmt.Errorf("write %s: %w", o.descriptorPath, err)
	}
	if err := dt.close(); err != nil {
		return nil, err
	}
	if err := lt.commit(); err != nil {
		return nil, err
	}
	if err := dt.commit(); err != nil {
		os.Remove(path) // keep "both or neither"
		return nil, err
	}
	return res, nil
}

// MarshalIndent returns the JSON form of d, indented by two spaces and
// ending in a newline, as WithDescriptorFile writes it.
func (d Descriptor) MarshalIndent() ([]byte, error) {
	if d.Files == nil {
		d.Files = []FileInfo{}
	}
	js, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode descriptor: %w", err)
	}
	return append(js, '\n'), nil
}

// checkOutput fails early, before any work, for an output path that cannot
// be written: a directory, or in a directory that does not exist.
func checkOutput(what, path string) error {
	if path == "" {
		return fmt.Errorf("%s path is empty", what)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s %q is a directory: give a file name, e.g. %q", what, path, filepath.Join(path, "layer.tar"))
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %q: directory %q does not exist: create it first", what, path, dir)
	case err != nil:
		return fmt.Errorf("%s %q: %w", what, path, err)
	case !fi.IsDir():
		return fmt.Errorf("%s %q: %q is not a directory", what, path, dir)
	}
	return nil
}

// tempFile is an output being written beside its target.
type tempFile struct {
	f      *os.File
	target string
	done   bool // committed, nothing to clean up
}

func newTempFile(target string) (*tempFile, error) {
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", target, err)
	}
	return &tempFile{f: f, target: target}, nil
}

// close sets the final permission bits and closes the file.
func (t *tempFile) close() error {
	if err := t.f.Chmod(outputPerm); err != nil {
		return fmt.Errorf("write %s: %w", t.target, err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", t.target, err)
	}
	return nil
}

// commit renames the closed file onto its target.
func (t *tempFile) commit() error {
	if err := os.Rename(t.f.Name(), t.target); err != nil {
		return fmt.Errorf("write %s: %w", t.target, err)
	}
	t.done = true
	return nil
}

// discard removes the temporary file unless it was committed.
func (t *tempFile) discard() {
	if !t.done {
		t.f.Close()
		os.Remove(t.f.Name())
	}
}
