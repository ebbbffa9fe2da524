package inspect

import "errors"

// ErrLimit is wrapped by the errors returned when an input exceeds one of the
// limits set by the Options (or their defaults).
var ErrLimit = errors.New("limit exceeded")

// Default limits. They are far above what real images use and low enough
// that a hostile input cannot exhaust memory or run for hours.
const (
	// DefaultMaxEntries is the maximum number of tar entries in one layer
	// (or in a docker save tarball).
	DefaultMaxEntries = 1 << 20
	// DefaultMaxLayerSize is the maximum number of decompressed bytes read
	// from one layer: the guard against decompression bombs.
	DefaultMaxLayerSize = 32 << 30
	// DefaultMaxIndexDepth is how deeply image indexes may nest below
	// index.json.
	DefaultMaxIndexDepth = 8
	// DefaultMaxImages is the maximum number of image manifests inspected in
	// one layout or archive.
	DefaultMaxImages = 4096
	// DefaultMaxLayers is the maximum number of layers of one image.
	DefaultMaxLayers = 4096
	// maxJSONSize bounds index.json, manifests, configs and manifest.json.
	// The distribution spec caps manifests at 4 MiB; configs with long
	// histories can be larger.
	maxJSONSize = 16 << 20
	// maxNameLen is PATH_MAX: longer names cannot be extracted on Linux.
	maxNameLen = 4096
	// maxRawValue bounds the xattr bytes kept in File.Raw; a valid
	// vfs_cap_data is at most 24 bytes.
	maxRawValue = 1024
)

// Option changes a limit of Path, LayerReader, Walk or Images.
type Option func(*options)

type options struct {
	maxEntries    int
	maxLayerSize  int64
	maxIndexDepth int
	maxImages     int
	maxLayers     int
}

func makeOptions(opts []Option) *options {
	o := &options{
		maxEntries:    DefaultMaxEntries,
		maxLayerSize:  DefaultMaxLayerSize,
		maxIndexDepth: DefaultMaxIndexDepth,
		maxImages:     DefaultMaxImages,
		maxLayers:     DefaultMaxLayers,
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithMaxEntries sets the maximum number of tar entries per layer.
func WithMaxEntries(n int) Option { return func(o *options) { o.maxEntries = n } }

// WithMaxLayerSize sets the maximum number of decompressed bytes per layer.
func WithMaxLayerSize(n int64) Option { return func(o *options) { o.maxLayerSize = n } }

// WithMaxIndexDepth sets how deeply image indexes may nest.
func WithMaxIndexDepth(n int) Option { return func(o *options) { o.maxIndexDepth = n } }

// WithMaxImages sets the maximum number of images inspected in one input.
func WithMaxImages(n int) Option { return func(o *options) { o.maxImages = n } }
