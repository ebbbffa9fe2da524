package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/compression"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/sourcedate"
	"github.com/capslayer/rules_capslayer/capslayer/layer"
	"github.com/capslayer/rules_capslayer/capslayer/registry"
	"github.com/capslayer/rules_capslayer/capslayer/source"
)

const layerUsage = `--binary SRC --path DEST --caps TEXT --output OUT [flags]
       capslayer layer --file DEST=SRC[:CAPS] [--file ...] --output OUT [flags]
       capslayer layer --from-tar IN --set PATH=CAPS [--set ...] --output OUT [flags]
       capslayer layer --from-image BASE --set PATH=CAPS [--set ...] --output OUT [flags]`

const layerHelp = `Writes a reproducible OCI layer tar holding the file SRC at the absolute path
DEST in the image, with the file capabilities TEXT (setcap syntax such as
"cap_net_bind_service=ep", or names such as "NET_BIND_SERVICE" meaning =p).
Each --file adds one more file: DEST=SRC without capabilities, or
DEST=SRC:CAPS with them. DEST ends at the first '='; CAPS starts after the
last ':', so a SRC containing ':' must be followed by ':' (no capabilities)
or ':CAPS'.

With --from-tar, the layer is the tar IN (plain, gzip or zstd; from pkg_tar,
tar.bzl, GNU tar, a Debian package...) with the capabilities CAPS set on its
regular file PATH for each --set; every other entry and byte is copied
unchanged, and the entries keep their mode, owner and mtime. A PATH that is
missing, not a regular file (a directory, symlink or hard link: the error
names what it points to), in the tar twice or named twice is an error, and
so is one whose mode in the tar is setuid, setgid or world-writable, unless
--allow-unsafe-mode. Replacing capabilities a PATH already has is a warning.
The descriptor lists every file that carries capabilities in the output, with
"origin": "set" for the --set ones and "input" for those the tar already
had. A tar of more than 1,048,576 entries, which capslayer's readers refuse,
is an error.

With --from-image, the layer is a copy-up layer for the image BASE (an OCI
layout directory, an oci-archive, a docker save tarball or a registry
reference; --platform picks one image of a multi-platform BASE): for each
--set, the regular file at PATH in BASE's final filesystem (whiteouts and
opaque directories applied, symlinked parent directories followed) with its
bytes, mode, owner and mtime and the capabilities CAPS, and its parent
directories with BASE's metadata. Put on top of BASE, it gives the file
capabilities as 'RUN setcap CAPS PATH' in a Dockerfile does. The layers are
read from the top down to the one holding the file, checked against their
digests, never extracted. A setuid, setgid or world-writable file needs
--allow-unsafe-mode; a file that already has capabilities needs
--replace-caps. A hard-linked file is copied alone: its other names keep the
original file (a warning names them).

The compression follows OUT's extension (.tar, .tar.gz/.tgz, .tar.zst/.tzst)
unless --compression is given; the two must agree. The mtime of every entry is
--mtime, else $SOURCE_DATE_EPOCH, else 0. Nothing is printed on success unless
--print-digest asks for it. See docs/layer-format.md for the exact layout.`

func runLayer(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("layer", layerUsage, layerHelp, stderr)
	var (
		binary      = fs.inputFile("binary", "", "host `file` to store at --path (a symlink is followed)")
		dest        = fs.String("path", "", "absolute `path` of --binary in the image, e.g. /app/server")
		capsText    = fs.String("caps", "", "file capabilities of --binary as `text`: setcap syntax (cap_net_bind_service=ep) or names (NET_BIND_SERVICE, meaning =p)")
		output      = fs.outputFile("output", "", "layer `file` to write (.tar, .tar.gz, .tgz, .tar.zst or .tzst)")
		mode        = fs.String("mode", "0755", "permission `bits` of the files, octal")
		owner       = fs.String("owner", "0:0", "numeric `uid:gid` of the files (directories stay 0:0)")
		mtime       = fs.String("mtime", "", "modification time of every entry, in `seconds` since the epoch (default $SOURCE_DATE_EPOCH, else 0)")
		compression = fs.String("compression", "", "`compression`: none, gzip or zstd (default: from the --output extension)")
		descriptor  = fs.outputFile("descriptor", "", "also write the layer's OCI descriptor with diff_id and file list as JSON to `file`")
		allowUnsafe = fs.Bool("allow-unsafe-mode", false, "allow capabilities on files whose --mode (or mode in the --from-tar tar) is setuid, setgid or world-writable")
		allowScript = fs.Bool("allow-script", false, "allow capabilities on a file starting with #! (the kernel ignores them there; a warning is printed)")
		printDigest = fs.Bool("print-digest", false, "print the layer digest (sha256:...) on stdout")
		fromTar     = fs.inputFile("from-tar", "", "existing layer `tar` (plain, gzip or zstd) to copy, setting capabilities on the files named by --set")
		fromImage   = fs.inputPath("from-image", "", "base `image` (OCI layout, oci-archive, docker save tarball or registry reference) whose files named by --set the layer copies up with capabilities")
		platform    = fs.String("platform", "", "with --from-image: the image of a multi-platform BASE to read, `os/arch[/variant]`")
		replaceCaps = fs.Bool("replace-caps", false, "with --from-image: replace the capabilities a file of BASE already has")
		insecure    = fs.Bool("insecure", false, "with --from-image: allow plain HTTP to a registry on this machine (localhost, 127.0.0.0/8, ::1 only)")
		caFile      = fs.inputFile("ca-file", "", "with --from-image: PEM `file` of CA certificates to trust for registries, besides the system's")
		timeout     = addTimeoutFlag(fs)
		files       stringList
		sets        stringList
		rootid      rootIDFlag
	)
	fs.Var(&files, "file", "one more file, `DEST=SRC[:CAPS]`; repeatable")
	fs.Var(&sets, "set", "with --from-tar or --from-image: give the regular file PATH of the tar or image the capabilities CAPS, `PATH=CAPS`; repeatable")
	fs.Var(&rootid, "rootid", rootIDUsage)
	hintStyle := fs.hintStyle("caps_layer")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q: layer takes only flags (see 'capslayer layer --help')", fs.Arg(0))
	}
	set := fs.isSet

	if *output == "" {
		return usagef("--output is required: name the layer file to write, e.g. --output layer.tar")
	}
	if set("from-image") {
		for _, name := range []string{"binary", "path", "caps", "file", "mode", "owner", "mtime", "from-tar"} {
			if set(name) {
				return usagef("--%s does not go with --from-image: the copied files keep the base image's bytes, modes, owners and mtimes", name)
			}
		}
		if len(sets.values) == 0 {
			return usagef("--from-image BASE needs at least one --set PATH=CAPS, e.g. --from-image base/ --set /usr/sbin/nginx=cap_net_bind_service=ep")
		}
		copt, err := compressionOption(*output, *compression)
		if err != nil {
			return err
		}
		scs, err := parseSets(sets.values, uint32(rootid))
		if err != nil {
			return err
		}
		img, err := openBase("--from-image", *fromImage, *platform, registry.Options{Insecure: *insecure, CAFile: *caFile, Timeout: *timeout})
		if err != nil {
			return err
		}
		opts := []layer.Option{copt, layer.WithAllowScripts(*allowScript), layer.WithAllowUnsafeMode(*allowUnsafe), layer.WithReplaceCapabilities(*replaceCaps)}
		if *descriptor != "" {
			opts = append(opts, layer.WithDescriptorFile(*descriptor))
		}
		res, err := layer.CopyUpFile(*output, img, scs, opts...)
		return reportLayer(res, err, hintStyle, *printDigest, stdout, stderr)
	}
	for _, name := range []string{"platform", "replace-caps", "insecure", "ca-file", "timeout"} {
		if set(name) {
			return usagef("--%s only goes with --from-image", name)
		}
	}
	if set("from-tar") || set("set") {
		for _, name := range []string{"binary", "path", "caps", "file", "mode", "owner", "mtime"} {
			if set(name) {
				return usagef("--%s does not go with --from-tar: the tar's entries keep their own files, modes, owners and mtimes", name)
			}
		}
		if !set("from-tar") || len(sets.values) == 0 {
			return usagef("--from-tar IN and --set PATH=CAPS go together: give the tar and at least one file of it, e.g. --from-tar in.tar --set /bin/ping=cap_net_raw=p")
		}
		copt, err := compressionOption(*output, *compression)
		if err != nil {
			return err
		}
		scs, err := parseSets(sets.values, uint32(rootid))
		if err != nil {
			return err
		}
		opts := []layer.Option{copt, layer.WithAllowScripts(*allowScript), layer.WithAllowUnsafeMode(*allowUnsafe)}
		if *descriptor != "" {
			opts = append(opts, layer.WithDescriptorFile(*descriptor))
		}
		opts = append(opts, layer.WithDigests(*descriptor != "" || *printDigest))
		res, err := layer.RewriteFile(*output, *fromTar, scs, opts...)
		return reportLayer(res, err, hintStyle, *printDigest, stdout, stderr)
	}
	opts, err := layerOptions(*output, *mode, *owner, *mtime, set("mtime"), *compression)
	if err != nil {
		return err
	}

	var lfiles []layer.File
	switch {
	case set("binary") || set("path") || set("caps"):
		var missing []string
		for _, name := range []string{"binary", "path", "caps"} {
			if !set(name) {
				missing = append(missing, "--"+name)
			}
		}
		if len(missing) > 0 {
			return usagef("--binary, --path and --caps go together: %s missing (use --file DEST=SRC for a file without capabilities)", strings.Join(missing, " and "))
		}
		f, err := layerFile(*dest, *binary, *capsText, "--caps", uint32(rootid))
		if err != nil {
			return err
		}
		lfiles = append(lfiles, f)
	case len(files.values) == 0:
		return usagef("nothing to put in the layer: give --binary SRC --path DEST --caps TEXT, or --file DEST=SRC[:CAPS]")
	}
	for _, v := range files.values {
		f, err := parseFileFlag(v, uint32(rootid))
		if err != nil {
			return err
		}
		lfiles = append(lfiles, f)
	}

	opts = append(opts, layer.WithAllowScripts(*allowScript), layer.WithAllowUnsafeMode(*allowUnsafe))
	if *descriptor != "" {
		opts = append(opts, layer.WithDescriptorFile(*descriptor))
	}
	// Hash only for an output that shows a digest; 'capslayer describe'
	// computes the descriptor later, when needed.
	opts = append(opts, layer.WithDigests(*descriptor != "" || *printDigest))
	res, err := layer.WriteFile(*output, lfiles, opts...)
	return reportLayer(res, err, hintStyle, *printDigest, stdout, stderr)
}

// parseSets parses --set values, PATH=CAPS.
func parseSets(values []string, rootid uint32) ([]layer.SetCap, error) {
	var scs []layer.SetCap
	for _, v := range values {
		p, text, ok := strings.Cut(v, "=")
		if !ok || p == "" || text == "" {
			return nil, usagef("--set %q: want PATH=CAPS, e.g. --set /bin/ping=cap_net_raw=p", v)
		}
		x, err := parseCaps(text, fmt.Sprintf("--set %q", v), rootid)
		if err != nil {
			return nil, err
		}
		scs = append(scs, layer.SetCap{Path: p, Caps: x})
	}
	return scs, nil
}

// openBase opens the image given with the flag named flag: a local image or
// a registry reference, and of a multi-platform one the image for platform.
func openBase(flag, arg, platform string, ro registry.Options) (v1.Image, error) {
	var want *v1.Platform
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, usagef("--platform %q: want os/arch[/variant], e.g. linux/amd64 or linux/arm/v7", platform)
		}
		want = p
	}
	if !registry.IsReference(arg) && (ro.Insecure || ro.CAFile != "") {
		return nil, usagef("--insecure and --ca-file are for registry references (HOST/REPO:TAG); %s is not one", arg)
	}
	in, err := source.Open(arg, source.Options{Registry: ro})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, explain(err, nil))
	}
	if in.Kind == inspect.KindLayer {
		return nil, usagef("%s %s is a single layer tar, not an image (an OCI layout directory, a docker save tarball or a registry reference)", flag, printable.String(arg))
	}
	srcs := make([]inspect.Source, len(in.Images))
	for i, img := range in.Images {
		srcs[i] = img.Source
	}
	return pickImage(flag, arg, srcs, want)
}

// pickImage returns the one image of srcs (distinct by digest) for want,
// or the only one when want is nil.
func pickImage(flag, arg string, srcs []inspect.Source, want *v1.Platform) (v1.Image, error) {
	var match []inspect.Source
	var all []string
	seen := map[string]bool{}
	for _, s := range srcs {
		if seen[s.Digest] {
			continue
		}
		seen[s.Digest] = true
		all = append(all, fmt.Sprintf("%s (%s)", orDash(s.Platform), s.Digest))
		if want == nil {
			match = append(match, s)
			continue
		}
		if p, err := v1.ParsePlatform(s.Platform); err == nil && s.Platform != "" && p.Satisfies(*want) {
			match = append(match, s)
		}
	}
	switch {
	case len(match) == 1:
		return match[0].Image, nil
	case want == nil:
		return nil, usagef("%s %s holds %d images: pick one with --platform os/arch[/variant]; it holds %s", flag, printable.String(arg), len(all), strings.Join(all, ", "))
	case len(match) == 0:
		return nil, usagef("%s %s has no image for --platform %s: it holds %s", flag, printable.String(arg), want, strings.Join(all, ", "))
	}
	return nil, usagef("%s %s has %d images for --platform %s: give the variant too; it holds %s", flag, printable.String(arg), len(match), want, strings.Join(all, ", "))
}

// reportLayer translates the result of writing a layer for the user, in
// the words of style.
func reportLayer(res *layer.Result, err error, style *hintStyleFlag, printDigest bool, stdout, stderr io.Writer) error {
	if err != nil {
		return explain(err, style)
	}
	for _, w := range res.Warnings {
		printWarning(stderr, "layer", w)
	}
	if printDigest {
		fmt.Fprintln(stdout, res.Digest)
	}
	return nil
}

// layerOptions turns the flags that shape the tar into layer options.
func layerOptions(output, mode, owner, mtime string, mtimeSet bool, compressionFlag string) ([]layer.Option, error) {
	var opts []layer.Option

	perm, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || perm > 0o7777 {
		return nil, usagef("--mode %q: want octal permission bits between 0000 and 7777, e.g. 0755", mode)
	}
	opts = append(opts, layer.WithMode(int64(perm)))

	uidText, gidText, ok := strings.Cut(owner, ":")
	uid, uerr := strconv.ParseUint(uidText, 10, 32)
	gid, gerr := strconv.ParseUint(gidText, 10, 32)
	if !ok || uerr != nil || gerr != nil || uid == 1<<32-1 || gid == 1<<32-1 {
		return nil, usagef("--owner %q: want numeric UID:GID, e.g. 65532:65532 (names are not looked up, so that the host's users cannot change the layer)", owner)
	}
	opts = append(opts, layer.WithOwner(int(uid), int(gid)))

	if !mtimeSet {
		sec, ok, err := sourcedate.FromEnv()
		if err != nil {
			return nil, usagef("%v, or pass --mtime", err)
		}
		if ok {
			opts = append(opts, layer.WithModTime(sec))
		}
	} else {
		sec, err := strconv.ParseInt(mtime, 10, 64)
		if err != nil || sec < 0 {
			return nil, usagef("--mtime %q: want a non-negative integer number of seconds since the epoch, e.g. 0", mtime)
		}
		opts = append(opts, layer.WithModTime(sec))
	}

	copt, err := compressionOption(output, compressionFlag)
	if err != nil {
		return nil, err
	}
	return append(opts, copt), nil
}

// compressionOption reads the compression from --compression and the
// --output name, which must agree.
func compressionOption(output, compressionFlag string) (layer.Option, error) {
	byName, known := compression.ForName(output)
	switch {
	case compressionFlag == "" && !known:
		return nil, usagef("--output %q: cannot tell the compression from the name: end it in .tar, .tar.gz, .tgz, .tar.zst or .tzst (as rules_oci expects), or pass --compression", output)
	case compressionFlag == "":
		return layer.WithCompression(byName), nil
	}
	c, err := compression.Parse(compressionFlag)
	if err != nil {
		return nil, usagef("--compression: %v", err)
	}
	if known && c != byName {
		return nil, usagef("--compression %s does not match --output %q, which names %s layer: change one of them", c, output, describeCompression(byName))
	}
	return layer.WithCompression(c), nil
}

func describeCompression(c layer.Compression) string {
	if c == layer.None {
		return "an uncompressed"
	}
	return "a " + string(c)
}

// parseFileFlag parses a --file value, DEST=SRC[:CAPS]. DEST ends at the
// first '=' (capability text has '=' too, but only after the last ':').
func parseFileFlag(v string, rootid uint32) (layer.File, error) {
	dest, rest, ok := strings.Cut(v, "=")
	if !ok || dest == "" || rest == "" {
		return layer.File{}, usagef("--file %q: want DEST=SRC or DEST=SRC:CAPS, e.g. --file /usr/sbin/tcpdump=out/tcpdump:cap_net_raw=ep", v)
	}
	src, capsText, hasCaps := rest, "", false
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		src, capsText, hasCaps = rest[:i], rest[i+1:], true
	}
	if src == "" {
		return layer.File{}, usagef("--file %q: the source before ':' is empty: want DEST=SRC:CAPS", v)
	}
	if !hasCaps || capsText == "" {
		return layer.File{Path: dest, Source: src}, nil
	}
	return layerFile(dest, src, capsText, fmt.Sprintf("--file %q", v), rootid)
}

// layerFile is the file src at dest with the capabilities text.
func layerFile(dest, src, text, what string, rootid uint32) (layer.File, error) {
	x, err := parseCaps(text, what, rootid)
	if err != nil {
		return layer.File{}, err
	}
	return layer.File{Path: dest, Source: src, Caps: &x}, nil
}

// parseCaps parses capability text into the security.capability value a
// layer stores: revision 2 (portable), or revision 3 when --rootid was
// given.
func parseCaps(text, what string, rootid uint32) (caps.Xattr, error) {
	fc, err := caps.Parse(text)
	if err != nil {
		hint := ""
		if strings.HasPrefix(what, "--file") && strings.Contains(text, "/") {
			hint = " (the capabilities start after the last ':'; if the source path contains ':', end it with ':' or ':CAPS')"
		}
		return caps.Xattr{}, usagef("%s: %v%s", what, err, hint)
	}
	if rootid != 0 {
		return caps.Xattr{Revision: 3, Caps: fc, RootID: rootid}, nil
	}
	return caps.Xattr{Revision: 2, Caps: fc}, nil
}
