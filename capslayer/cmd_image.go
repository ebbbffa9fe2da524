package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/capslayer/rules_capslayer/capslayer/image"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/atomicfile"
	"github.com/capslayer/rules_capslayer/capslayer/internal/printable"
	"github.com/capslayer/rules_capslayer/capslayer/internal/sourcedate"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	imageIndexUsage   = "--output LAYOUT_DIR [--tag NAME:TAG] IMAGE_LAYOUT..."
	imageTarballUsage = "--tag NAME:TAG --output OUT.tar IMAGE_LAYOUT"
	imageUsage        = "[--base PATH] --layer L.tar [--layer ...] [config flags] --output LAYOUT_DIR [--tarball OUT.tar --tag NAME:TAG]\n       capslayer image index " + imageIndexUsage + "\n       capslayer image tarball " + imageTarballUsage
)

const imageHelp = `Assembles an OCI image from a base and layer tars and writes it as an OCI
image layout directory (readable by umoci, skopeo, crane, rules_oci) and,
with --tarball, as a docker-archive tarball for 'docker load' and
'podman load'.

The base is an OCI image layout or a docker save tarball; without --base
the image starts from scratch. A base holding several images (platforms or
tags) needs --platform and/or --base-ref to pick one.

Layers (plain, gzip or zstd tars, e.g. from 'capslayer layer') are added
UNCHANGED: the layer blob is the file's bytes, so file capabilities (PAX
SCHILY.xattr.security.capability records) survive and the layer digest is
sha256 of the file. Base layers are kept byte for byte as well.

The output is reproducible: the config's created time is --created, else
$SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z; history entries name the
files of each layer, never host paths; the same inputs give the same
manifest digest, which is printed on stdout (or, with --digest-file, written
to a file: what a build system records without a shell to redirect stdout).

The entrypoint (or the first --cmd word when there is no entrypoint) must
exist as an executable file in the final filesystem, following the layers,
whiteouts and symlinks; a bare name is looked up in the image's PATH.

--output is written to a temporary directory beside it and renamed into
place. An existing --output is replaced only if it is empty or an OCI image
layout; anything else is refused. The layout names the image with the
org.opencontainers.image.ref.name annotation set to the tag of --tag
("latest" without --tag), so 'umoci unpack --image DIR:TAG' finds it.

'capslayer image index' combines single-platform image layouts (each with
one image, as 'capslayer image' writes them) into one multi-platform image
index, in the order given; their platforms must differ.

'capslayer image tarball' writes the docker load / podman load tarball of
a single-image layout: the same bytes as --tarball of the 'capslayer image'
run that wrote the layout with the same --tag. caps_image runs it as an
action of its own, so that the tarball is written only when asked for.

Examples:
  capslayer image --layer caps.tar --entrypoint /app/server --user 1000 \
      --output out/image --tarball out/image.tar --tag example.com/app:v1
  capslayer image --base distroless --platform linux/arm64 --layer app.tar.gz \
      --entrypoint /app/server --expose 80/tcp --output out/arm64
  capslayer image index --output out/multi --tag example.com/app:v1 out/amd64 out/arm64
  capslayer image tarball --tag example.com/app:v1 --output out/image.tar out/image`

// argvWords parses a use of --entrypoint or --cmd: one word, or all the
// words of a JSON array ('["/app/server","--port","80"]').
func argvWords(v string) ([]string, error) {
	if !strings.HasPrefix(strings.TrimSpace(v), "[") {
		return []string{v}, nil
	}
	ws := []string{}
	if err := json.Unmarshal([]byte(v), &ws); err != nil {
		return nil, fmt.Errorf("not a JSON array of strings: %v", err)
	}
	return ws, nil
}

// argv returns the words of all uses of an --entrypoint or --cmd flag: nil
// when it was not given, empty when it was given as '[]'.
func argv(f *listFlag[[]string]) []string {
	if len(f.values) == 0 {
		return nil
	}
	words := []string{}
	for _, ws := range f.values {
		words = append(words, ws...)
	}
	return words
}

// imageSubcommands are the commands "capslayer image NAME" runs instead of
// assembling an image.
var imageSubcommands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"index":   runImageIndex,
	"tarball": runImageTarball,
}

func runImage(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if sub, ok := imageSubcommands[args[0]]; ok {
			return sub(args[1:], stdout, stderr)
		}
	}
	fs := newFlagSet("image", imageUsage, imageHelp, stderr)
	var o image.Options
	var env, labels, expose stringList
	entrypoint, cmd := listFlag[[]string]{parse: argvWords}, listFlag[[]string]{parse: argvWords}
	fs.inputPathVar(&o.Base, "base", "", "base image: an OCI image layout `dir`ectory or a docker save tarball (default: scratch)")
	fs.StringVar(&o.BaseRef, "base-ref", "", "which image of a base holding several: a `tag` or manifest digest")
	layers := fs.inputFiles("layer", "layer `tar` (plain, gzip or zstd) to add unchanged, bottom first; repeatable")
	fs.Var(&entrypoint, "entrypoint", "entrypoint `word`; repeat for more words, or give a JSON array; '[]' clears it")
	fs.Var(&cmd, "cmd", "command `word` (arguments to the entrypoint); repeatable, or a JSON array")
	user := fs.String("user", "", "`user` to run as: uid, uid:gid or a name from the image's /etc/passwd")
	workdir := fs.String("workdir", "", "working `dir`ectory, absolute")
	fs.Var(&env, "env", "environment variable `KEY=VALUE`; repeatable; replaces the base's KEY")
	fs.Var(&labels, "label", "label `KEY=VALUE`; repeatable")
	fs.Var(&expose, "expose", "exposed `port`, e.g. 80/tcp or 53/udp; repeatable")
	fs.StringVar(&o.Platform, "platform", "", "`os/arch[/variant]`: picks the image of a multi-platform base, must match a single-platform base (default: the base's, or linux/amd64 without a base)")
	created := fs.String("created", "", "config created `time`, seconds since the epoch or RFC 3339 (default $SOURCE_DATE_EPOCH, else 0)")
	output := fs.outputDir("output", "", "OCI image layout `dir`ectory to write")
	tarballOut := fs.outputFile("tarball", "", "also write a docker load / podman load tarball to `file` (needs --tag)")
	tag := fs.String("tag", "", "image `name`, NAME:TAG: the tarball's repo tag, and the layout's ref.name annotation (its TAG part; default latest)")
	digestFile := fs.outputFile("digest-file", "", "write the manifest digest (sha256:..., and a newline) to `file` instead of stdout, atomically, after the other outputs")
	fs.BoolVar(&o.NoEntrypointCheck, "no-entrypoint-check", false, "do not check that the entrypoint exists in the image")
	hintStyle := fs.hintStyle("caps_image")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q: image takes only flags (did you mean --layer %s?)", fs.Arg(0), fs.Arg(0))
	}
	if *output == "" {
		return usagef("missing --output LAYOUT_DIR")
	}
	if *tarballOut != "" && *tag == "" {
		return usagef("--tarball needs --tag NAME:TAG: docker load and podman load name the image after it")
	}
	if err := checkDigestFile(*digestFile); err != nil {
		return err
	}
	if o.Base == "" && len(*layers) == 0 {
		return usagef("give at least one --layer (or a --base)")
	}
	t, err := tagFlag(*tag)
	if err != nil {
		return err
	}
	if fs.isSet("user") {
		o.User = user
	}
	if fs.isSet("workdir") {
		o.WorkingDir = workdir
	}
	o.Layers, o.Env, o.ExposedPorts = *layers, env.values, expose.values
	o.Entrypoint, o.Cmd = argv(&entrypoint), argv(&cmd)
	for _, l := range labels.values {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return usagef("--label %q: want KEY=VALUE", l)
		}
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[k] = v
	}
	if *created != "" {
		o.Created, err = image.ParseCreated(*created)
		if err != nil {
			return usagef("--created: %v", err)
		}
	} else {
		sec, _, err := sourcedate.FromEnv() // unset: 0, the epoch
		if err != nil {
			return err
		}
		o.Created = time.Unix(sec, 0).UTC()
	}
	if o.Platform != "" {
		if _, err := image.ParsePlatform(o.Platform); err != nil {
			return usagef("--platform: %v", err)
		}
	}

	res, err := image.Build(o)
	if err != nil {
		return explain(err, hintStyle)
	}
	for _, w := range res.Warnings {
		printWarning(stderr, "image", w)
	}
	out := image.Outputs{Layout: *output, Tarball: *tarballOut, DigestFile: *digestFile, Tag: t, Platform: &res.Platform}
	if err := image.Write(res.Image, out); err != nil {
		return err
	}
	return printDigest(stdout, res.Image, *digestFile)
}

// checkDigestFile refuses a --digest-file that cannot be written before any
// work is done.
func checkDigestFile(path string) error {
	if path == "" {
		return nil
	}
	if err := atomicfile.Check("--digest-file", path, "image.digest"); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// tagFlag parses --tag; "" means no tag (nil).
func tagFlag(s string) (*name.Tag, error) {
	if s == "" {
		return nil, nil
	}
	t, err := image.ParseTag(s)
	if err != nil {
		return nil, usagef("--tag: %v", err)
	}
	return &t, nil
}

// printDigest prints the manifest (or index) digest on stdout unless
// --digest-file was given: then image.Write has written it, "sha256:<hex>\n",
// the content of caps_image's <name>.digest, so the rule needs no shell to
// redirect stdout (and Bazel shows no output for a successful action).
func printDigest(stdout io.Writer, img interface{ Digest() (v1.Hash, error) }, digestFile string) error {
	if digestFile != "" {
		return nil
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, d.String()+"\n")
	return err
}

func runImageIndex(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image index", imageIndexUsage, imageHelp, stderr)
	output := fs.outputDir("output", "", "OCI image layout `dir`ectory to write the index to")
	tag := fs.String("tag", "", "index `name`, NAME:TAG; the layout's ref.name annotation is its TAG part (default latest)")
	digestFile := fs.outputFile("digest-file", "", "write the index digest (sha256:..., and a newline) to `file` instead of stdout, atomically, after the layout")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := checkDigestFile(*digestFile); err != nil {
		return err
	}
	if *output == "" {
		return usagef("image index: missing --output LAYOUT_DIR")
	}
	if fs.NArg() == 0 {
		return usagef("image index: give the image layouts to combine, e.g. capslayer image index --output out/multi out/amd64 out/arm64")
	}
	t, err := tagFlag(*tag)
	if err != nil {
		return err
	}
	var imgs []v1.Image
	for _, p := range fs.Args() {
		img, err := layoutImage("image index", p)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	idx, err := image.Index(imgs)
	if err != nil {
		return err
	}
	if err := image.WriteIndex(idx, image.Outputs{Layout: *output, DigestFile: *digestFile, Tag: t}); err != nil {
		return err
	}
	return printDigest(stdout, idx, *digestFile)
}

// layoutImage reads the one image of the OCI image layout p, as cmd takes
// it.
func layoutImage(cmd, p string) (v1.Image, error) {
	kind, srcs, err := inspect.Images(p)
	if err != nil {
		return nil, err
	}
	if kind != inspect.KindOCILayout {
		return nil, fmt.Errorf("%s is a %s; %s takes OCI image layouts (write them with capslayer image --output)", printable.String(p), kind, cmd)
	}
	if len(srcs) != 1 {
		return nil, fmt.Errorf("%s holds %d images; %s takes layouts with one image each", printable.String(p), len(srcs), cmd)
	}
	return srcs[0].Image, nil
}

func runImageTarball(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image tarball", imageTarballUsage, imageHelp, stderr)
	output := fs.outputFile("output", "", "docker load / podman load tarball `file` to write")
	tag := fs.String("tag", "", "image `name`, NAME:TAG: the tarball's repo tag, what docker load names the image")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *output == "" {
		return usagef("image tarball: missing --output OUT.tar")
	}
	if *tag == "" {
		return usagef("image tarball: missing --tag NAME:TAG: docker load and podman load name the image after it")
	}
	if fs.NArg() != 1 {
		return usagef("image tarball: give one image layout, e.g. capslayer image tarball --tag example.com/app:v1 --output image.tar out/image")
	}
	t, err := tagFlag(*tag)
	if err != nil {
		return err
	}
	img, err := layoutImage("image tarball", fs.Arg(0))
	if err != nil {
		return err
	}
	return image.WriteTarball(*output, img, *t)
}
