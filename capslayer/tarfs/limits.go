package tarfs

import "errors"

// ErrLimit is wrapped by the errors returned when an input exceeds one of the
// limits set by the Options (or their defaults): here and in the image
// readers built on this package (package inspect).
var ErrLimit = errors.New("limit exceeded")

// Default limits. They are far above what real images use and low enough
// that a hostile input cannot exhaust memory or run for hours.
const (
	// DefaultMaxEntries is the maximum number of tar entries in one layer
	// (or in a docker save tarball).
	DefaultMaxEntries = 1 << 20
	// defaultMaxLayerSize is the maximum number of decompressed bytes read
	// from one layer: the guard against decompression bombs.
	defaultMaxLayerSize = 32 << 30
	// DefaultMaxIndexDepth is how deeply image indexes may nest below
	// index.json.
	DefaultMaxIndexDepth = 8
	// defaultMaxImages is the maximum number of image manifests inspected in
	// one layout or archive.
	defaultMaxImages = 4096
	// defaultMaxLayers is the maximum number of layers of one image.
	defaultMaxLayers = 4096
	// maxNameLen is PATH_MAX: longer names cannot be extracted on Linux.
	maxNameLen = 4096
	// maxRawValue bounds the xattr bytes kept in File.Raw; a valid
	// vfs_cap_data is at most 24 bytes.
	maxRawValue = 1024
)

// Option changes a limit of Walk, WalkData and the image readers built on
// this package (package inspect's Path, LayerReader, Images, Scan, Locate).
type Option func(*Limits)

// Limits are the bounds a reader of hostile input keeps to. The tar
// readers here use MaxEntries and MaxLayerSize; the image readers use all.
type Limits struct {
	MaxEntries    int
	MaxLayerSize  int64
	MaxIndexDepth int
	MaxImages     int
	MaxLayers     int
}

// NewLimits returns the default limits changed by opts.
func NewLimits(opts []Option) *Limits {
	o := &Limits{
		MaxEntries:    DefaultMaxEntries,
		MaxLayerSize:  defaultMaxLayerSize,
		MaxIndexDepth: DefaultMaxIndexDepth,
		MaxImages:     defaultMaxImages,
		MaxLayers:     defaultMaxLayers,
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// WithMaxEntries sets the maximum number of tar entries per layer.
func WithMaxEntries(n int) Option { return func(o *Limits) { o.MaxEntries = n } }

// WithMaxLayerSize sets the maximum number of decompressed bytes per layer.
func WithMaxLayerSize(n int64) Option { return func(o *Limits) { o.MaxLayerSize = n } }

// WithMaxIndexDepth sets how deeply image indexes may nest.
func WithMaxIndexDepth(n int) Option { return func(o *Limits) { o.MaxIndexDepth = n } }

// WithMaxImages sets the maximum number of images inspected in one input.
func WithMaxImages(n int) Option { return func(o *Limits) { o.MaxImages = n } }
