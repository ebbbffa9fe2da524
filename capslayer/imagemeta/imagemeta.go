// Package imagemeta is the capability metadata capslayer records in the
// images it assembles, in one place for the writer (capslayer image) and the
// readers that verify it (inspect, audit, requirements):
//
//   - the image config label LabelCapabilities holds every file of the final
//     filesystem that carries a security.capability xattr: its path (after
//     resolving symlinked parent directories, as a runtime sees it) mapped to
//     Text of its value;
//   - the manifest descriptor of each layer whose entries carry capabilities
//     has the annotation AnnotationCapabilities: the entry names of that
//     layer (absolute and clean, as written in the tar) mapped to Text of
//     their value, whether or not a later layer hides them.
//
// Both hold a JSON object whose keys are sorted (Encode), so the same files
// always give the same bytes and the same image digest. An image without the
// label or annotations simply carries no metadata; a value that disagrees
// with the layers is forged or stale.
package imagemeta

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/internal/abbrev"
	"github.com/capslayer/rules_capslayer/capslayer/internal/errprefix"
)

const (
	// LabelCapabilities is the image config label (config.Labels) that
	// lists the capabilities of the files of the final filesystem.
	LabelCapabilities = "io.capslayer.capabilities"
	// AnnotationCapabilities is the annotation of a layer descriptor in
	// the image manifest that lists the capabilities of that layer's
	// entries.
	AnnotationCapabilities = "io.capslayer.capabilities"
)

// invalidPrefix starts the Text of a value that does not decode.
const invalidPrefix = "invalid:"

// Text is the canonical text of a raw security.capability value: what
// getcap prints after the file name ("cap_net_bind_service=ep", with
// " [rootid=N]" for revision 3), or "invalid:<hex>" for a value the
// kernel would refuse, so that a malformed value is recorded rather than
// dropped.
func Text(raw []byte) string {
	x, err := caps.Decode(raw)
	if err != nil {
		return invalidPrefix + hex.EncodeToString(raw)
	}
	return x.String()
}

// Capabilities maps absolute, clean paths to the Text of their
// security.capability value.
type Capabilities map[string]string

// Encode returns the JSON object of c with its keys sorted and no
// insignificant space; an empty or nil c is "{}".
func (c Capabilities) Encode() string {
	if len(c) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// encoding/json sorts map keys: the output is deterministic.
	if err := enc.Encode(map[string]string(c)); err != nil {
		panic(err) // a map of strings always encodes
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Parse reads a LabelCapabilities or AnnotationCapabilities value. It
// refuses what Encode would not write: anything but a JSON object of
// strings, keys that are not absolute clean paths, and empty values.
func Parse(s string) (_ Capabilities, err error) {
	defer errprefix.Add(&err, "imagemeta")
	c, err := parse(s)
	if err != nil {
		return nil, fmt.Errorf("imagemeta: %w", err)
	}
	return c, nil
}

// parse is Parse without the package's prefix, for callers here that say
// where the value came from.
func parse(s string) (Capabilities, error) {
	var c Capabilities
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object of path to capability text: %v", abbrev.Quote(s), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s has data after its JSON object", abbrev.Quote(s))
	}
	if c == nil {
		return nil, fmt.Errorf("%s is not a JSON object of path to capability text", abbrev.Quote(s))
	}
	for p, v := range c {
		if !isCleanAbs(p) {
			return nil, fmt.Errorf("path %s is not absolute and clean", abbrev.Quote(p))
		}
		if v == "" {
			return nil, fmt.Errorf("path %s has an empty capability text", abbrev.Quote(p))
		}
	}
	return c, nil
}

func isCleanAbs(p string) bool {
	if p == "/" || !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return false
	}
	for _, el := range strings.Split(p[1:], "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return true
}
