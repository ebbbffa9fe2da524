package imagemeta

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/inspect"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
	"github.com/capslayer/rules_capslayer/capslayer/tarfs"
)

// ErrMismatch is wrapped by the errors of Verify: the metadata of an image
// disagrees with its layers (a layer was changed or the metadata forged).
var ErrMismatch = errors.New("imagemeta: the capability metadata does not match the layers")

// Metadata is the capability metadata of one image.
type Metadata struct {
	// Label is the parsed LabelCapabilities of the config; nil if absent.
	Label Capabilities
	// Layers holds the parsed AnnotationCapabilities of each layer
	// descriptor of the manifest, by layer index; nil where absent.
	Layers []Capabilities
}

// Present reports whether the image carries any capability metadata.
func (m *Metadata) Present() bool {
	if m.Label != nil {
		return true
	}
	for _, l := range m.Layers {
		if l != nil {
			return true
		}
	}
	return false
}

// Read returns the metadata of img: its config label and the annotations
// of its manifest's layer descriptors. It reads the manifest and config
// only. A value that does not parse is an error.
func Read(img v1.Image) (_ *Metadata, err error) {
	defer errprefix.Add(&err, "imagemeta")
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	md := &Metadata{Layers: make([]Capabilities, len(m.Layers))}
	if v, ok := cf.Config.Labels[LabelCapabilities]; ok {
		if md.Label, err = parse(v); err != nil {
			return nil, fmt.Errorf("imagemeta: config label %s: %w", LabelCapabilities, err)
		}
	}
	for i, d := range m.Layers {
		if v, ok := d.Annotations[AnnotationCapabilities]; ok {
			if md.Layers[i], err = parse(v); err != nil {
				return nil, fmt.Errorf("imagemeta: layer %d (%s) annotation %s: %w", i, d.Digest, AnnotationCapabilities, err)
			}
		}
	}
	return md, nil
}

// Expected returns the metadata capslayer image would write for the files
// read from the layers of img: the label (files of the final filesystem, by
// FinalPath, as package image computes it) and, for each layer with
// capability files, its annotation.
func Expected(img inspect.Image) *Metadata {
	md := &Metadata{Label: Capabilities{}, Layers: make([]Capabilities, len(img.Layers))}
	for i, l := range img.Layers {
		for _, f := range l.Files {
			if md.Layers[i] == nil {
				md.Layers[i] = Capabilities{}
			}
			md.Layers[i][f.Path] = Text(f.Raw) // a later entry at the same path wins
			if f.Visible() {
				md.Label[f.FinalPath] = Text(f.Raw)
			}
		}
	}
	return md
}

// Verify checks the metadata md of an image against the files read from
// its layers. Only what is present is checked: an image without a label is
// not checked against one. A difference is an error wrapping ErrMismatch
// that names both values.
func Verify(md *Metadata, read inspect.Image) (err error) {
	defer errprefix.Add(&err, "imagemeta")
	want := Expected(read)
	var diffs []string
	if md.Label != nil {
		diffs = append(diffs, compare("the config label "+LabelCapabilities, md.Label, "the layers", want.Label)...)
	}
	for i := range md.Layers {
		if i >= len(want.Layers) {
			break
		}
		have, w := md.Layers[i], want.Layers[i]
		// A missing annotation is not checked: docker save tarballs, and
		// manifests that docker push writes anew, hold none, while the
		// config (and its label) is kept.
		switch {
		case have != nil:
			if w == nil {
				w = Capabilities{}
			}
			diffs = append(diffs, compare(fmt.Sprintf("the %s annotation of layer %d", AnnotationCapabilities, i), have, fmt.Sprintf("layer %d", i), w)...)
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	const max = 5
	if len(diffs) > max {
		diffs = append(diffs[:max], fmt.Sprintf("and %d more", len(diffs)-max))
	}
	return fmt.Errorf("%w: %s: a layer was changed after the image was built, or the metadata was forged", ErrMismatch, strings.Join(diffs, "; "))
}

func compare(haveName string, have Capabilities, wantName string, want Capabilities) []string {
	give := wantName + " give"
	if !strings.HasSuffix(wantName, "s") {
		give = wantName + " gives"
	}
	var out []string
	for _, p := range sortedKeys(have, want) {
		h, hok := have[p]
		w, wok := want[p]
		switch {
		case hok && wok && h != w:
			out = append(out, fmt.Sprintf("%s says %s has %s, %s %s", haveName, p, h, give, w))
		case hok && !wok:
			out = append(out, fmt.Sprintf("%s says %s has %s, %s it no capability", haveName, p, h, give))
		case !hok && wok:
			out = append(out, fmt.Sprintf("%s does not list %s, %s it %s", haveName, p, give, w))
		}
	}
	return out
}

func sortedKeys(a, b Capabilities) []string {
	seen := map[string]bool{}
	var ks []string
	for _, m := range []Capabilities{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				ks = append(ks, k)
			}
		}
	}
	sort.Strings(ks)
	return ks
}

// Image returns the image that the metadata describes, without reading its
// layers: the files of the label (the final filesystem), each attributed
// to the topmost layer whose annotation lists it with the same value (layer
// 0 when none does, e.g. under a symlinked directory). Files that a later
// layer hides are not in the label, so they are not listed. src gives the
// name, digest and platform; the manifest and config give the layers. The
// image is marked LabelOnly: nothing here checks the label against what
// the layers hold.
func Image(src inspect.Source, md *Metadata) (_ inspect.Image, err error) {
	defer errprefix.Add(&err, "imagemeta")
	im := inspect.Image{Name: src.Name, Digest: src.Digest, Platform: src.Platform, LabelOnly: true}
	m, err := src.Image.Manifest()
	if err != nil {
		return im, err
	}
	cf, err := src.Image.ConfigFile()
	if err != nil {
		return im, err
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return im, fmt.Errorf("imagemeta: the manifest lists %d layers but the config has %d diff_ids", len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	for i, d := range m.Layers {
		im.Layers = append(im.Layers, tarfs.Layer{Index: i, Digest: d.Digest.String(), DiffID: cf.RootFS.DiffIDs[i].String(), MediaType: string(d.MediaType)})
	}
	for _, p := range sortedKeys(md.Label, nil) {
		text := md.Label[p]
		layer := 0
		for i := len(md.Layers) - 1; i >= 0; i-- {
			if md.Layers[i] != nil && md.Layers[i][p] == text {
				layer = i
				break
			}
		}
		if len(im.Layers) == 0 {
			return im, fmt.Errorf("imagemeta: the label lists %s but the image has no layer", p)
		}
		f, err := fileOf(p, text)
		if err != nil {
			return im, fmt.Errorf("imagemeta: config label %s: %s: %w", LabelCapabilities, p, err)
		}
		f.Layer, f.ShadowedBy, f.FinalPath = layer, -1, p
		im.Layers[layer].Files = append(im.Layers[layer].Files, f)
	}
	return im, nil
}

// fileOf is the inverse of Text: the File whose value has this text. The
// raw value is re-encoded (revision 2, or 3 with a root ID); the mode,
// owner and size are not in the metadata and are left zero.
func fileOf(p, text string) (tarfs.File, error) {
	f := tarfs.File{Path: p, Type: "file"}
	if h, ok := strings.CutPrefix(text, invalidPrefix); ok {
		raw, err := hex.DecodeString(h)
		if err != nil {
			return f, fmt.Errorf("%q is not invalid:<hex>", text)
		}
		f.Raw = raw
		if _, err := caps.Decode(raw); err != nil {
			f.Invalid = err.Error()
		} else {
			return f, fmt.Errorf("%q decodes, so it is not invalid", text)
		}
		return f, nil
	}
	capText, rootID, hasRoot := strings.Cut(text, " [rootid=")
	fc, err := caps.ParseSetcap(capText)
	if err != nil {
		return f, err
	}
	x := caps.Xattr{Caps: fc, Revision: 2}
	if hasRoot {
		// getcap prints the root ID as a signed 32-bit number.
		n, err := strconv.ParseInt(strings.TrimSuffix(rootID, "]"), 10, 32)
		if err != nil || !strings.HasSuffix(rootID, "]") {
			return f, fmt.Errorf("%q: bad root ID", text)
		}
		x.Revision, x.RootID = 3, uint32(int32(n))
	}
	if f.Raw, err = x.Encode(); err != nil {
		return f, err
	}
	if Text(f.Raw) != text {
		return f, fmt.Errorf("%q is not the canonical text of a capability value (%q is)", text, Text(f.Raw))
	}
	f.Xattr = x
	return f, nil
}
