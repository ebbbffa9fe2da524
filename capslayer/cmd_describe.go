package main

import (
	"fmt"
	"io"

	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/layer"
)

const describeUsage = "[--path PATH ...] [--compression C] [--output FILE] LAYER"

const describeHelp = `Writes the OCI descriptor of the layer tar LAYER as JSON: its media type,
digest and size, its diff_id (the digest of the uncompressed tar), and each
regular file with its capabilities, mode, owner and size. It is the file
'capslayer layer --descriptor' writes while writing a layer, computed from the
layer alone, so that a build hashes a layer only when something needs its
digest. With --path, the list is what 'capslayer layer --from-tar' gives for
those --set paths: each must be a regular file of LAYER and is listed with
"origin": "set", and every other file that carries capabilities (hard links
to such files included) is listed with "origin": "input".

The compression follows LAYER's extension (.tar, .tar.gz/.tgz, .tar.zst/.tzst)
unless --compression is given; the two and the bytes must agree. The JSON goes
to --output, written atomically, or to stdout.

Example:
  capslayer describe bazel-bin/app/server_layer.tar`

func runDescribe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("describe", describeUsage, describeHelp, stderr)
	var (
		output = fs.outputFile("output", "", "write the descriptor to `file` (default: stdout)")
		cflag  = fs.String("compression", "", "`compression` of LAYER: none, gzip or zstd (default: from its extension)")
		paths  stringList
	)
	fs.Var(&paths, "path", "a regular file given capabilities by --from-tar --set, an absolute `path` in the image; repeatable")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("describe takes one LAYER (a layer tar), got %d arguments", fs.NArg())
	}
	in := fs.Arg(0)
	byName, known := compression.ForName(in)
	c := byName
	switch {
	case *cflag == "" && !known:
		return usagef("cannot tell the compression of %q from its name: end it in .tar, .tar.gz, .tgz, .tar.zst or .tzst, or pass --compression", in)
	case *cflag != "":
		var err error
		if c, err = compression.Parse(*cflag); err != nil {
			return usagef("--compression: %v", err)
		}
		if known && c != byName {
			return usagef("--compression %s does not match %q, which names %s layer: change one of them", c, in, describeCompression(byName))
		}
	}
	d, err := layer.DescribeFile(in, *output, c, paths.values)
	if err != nil {
		return err
	}
	if *output != "" {
		return nil
	}
	js, err := d.MarshalIndent()
	if err != nil {
		return err
	}
	if _, err := stdout.Write(js); err != nil {
		return fmt.Errorf("write descriptor: %w", err)
	}
	return nil
}
