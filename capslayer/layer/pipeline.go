package layer

import (
	"io"
	"sync/atomic"
)

// The streaming machinery is hand-written rather than io.Copy plus
// io.MultiWriter because those run reading, hashing and writing one after
// the other on one goroutine. Here three goroutines overlap them:
//
//	copier reader: read(2) the next chunk of the source
//	caller:        tar.Writer -> hashSink.Write -> write(2) the chunk
//	hashSink:      sha256 of the tar stream, at its own pace
//
// so a layer costs about as much as the slowest of the three (hashing, with
// SHA-NI) instead of their sum. File chunks are never copied: the copier
// lends each buffer to the hashSink, which hands it back once it is both
// written and hashed.

const (
	// chunkSize is the size of one read from a source file. Chunks this
	// small stay in the CPU cache between read(2), sha256 and write(2),
	// which beats larger, fewer system calls: on a 512 MiB file, 64 KiB
	// to 128 KiB chunks ran at the speed of sha256 alone, 1 MiB chunks
	// 30% slower and 4 MiB chunks 75% slower (tools/bench/layer.sh).
	chunkSize = 128 << 10
	// chunks is how many chunk buffers exist: being read, waiting, being
	// written, being hashed. Memory used by a layer of any size is about
	// chunks*chunkSize.
	chunks = 16
)

// hashItem is a piece of the stream waiting to be hashed.
type hashItem struct {
	p    []byte
	loan *loan // nil if p is a copy
}

// loan is a lent buffer in use by the writer and the hasher; the last of
// them to finish sends it home.
type loan struct {
	p    []byte
	home chan<- []byte
	refs atomic.Int32
}

func (l *loan) release() {
	if l.refs.Add(-1) == 0 {
		l.home <- l.p[:cap(l.p)]
	}
}

// hashSink writes everything to w, synchronously, and hashes it with h on a
// helper goroutine, in order, without making Write wait for the hash.
// Write copies p for hashing unless p was lent (see lend), so tar headers
// and padding, which archive/tar reuses, are safe.
type hashSink struct {
	w     io.Writer
	h     io.Writer
	queue chan hashItem
	done  chan struct{}
	lent  []byte
	home  chan<- []byte
}

func newHashSink(w io.Writer, h io.Writer) *hashSink {
	s := &hashSink{w: w, h: h, queue: make(chan hashItem, chunks+16), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for it := range s.queue {
			s.h.Write(it.p) // a digest.Writer never fails
			if it.loan != nil {
				it.loan.release()
			}
		}
	}()
	return s
}

// lend says that the next Write will be given p, which belongs to home and
// may be kept until hashed; the sink sends it home once it is written and
// hashed. If Write is not called with p, the caller takes it back with
// reclaim.
func (s *hashSink) lend(p []byte, home chan<- []byte) { s.lent, s.home = p, home }

// reclaim returns the lent buffer if Write did not take it, else nil.
func (s *hashSink) reclaim() []byte {
	p := s.lent
	s.lent, s.home = nil, nil
	return p
}

func (s *hashSink) Write(p []byte) (int, error) {
	switch {
	case len(p) == 0:
	case len(s.lent) > 0 && &p[0] == &s.lent[0] && len(p) <= len(s.lent):
		l := &loan{p: s.lent, home: s.home}
		l.refs.Store(2)
		s.lent, s.home = nil, nil
		s.queue <- hashItem{p: p, loan: l}
		n, err := s.w.Write(p)
		l.release()
		return n, err
	default:
		s.queue <- hashItem{p: append([]byte(nil), p...)}
	}
	return s.w.Write(p)
}

// finish waits until everything written has been hashed and stops the
// helper goroutine. The sink must not be written afterwards.
func (s *hashSink) finish() {
	close(s.queue)
	<-s.done
}

// copier copies file contents with read-ahead: a helper goroutine reads the
// next chunks while the current one is written. Its buffers are reused for
// every file of a layer.
type copier struct {
	free chan []byte
	sink *hashSink // lent every chunk before it is written
}

func newCopier(sink *hashSink) *copier {
	c := &copier{free: make(chan []byte, chunks), sink: sink}
	for range chunks {
		c.free <- make([]byte, chunkSize)
	}
	return c
}

type chunk struct {
	b   []byte
	err error
}

// copyN copies exactly n bytes from r to w, whose writes must reach c.sink
// unchanged (a tar.Writer in front of it does). It returns
// io.ErrUnexpectedEOF if r ends early.
func (c *copier) copyN(w io.Writer, r io.Reader, n int64) error {
	if n == 0 {
		return nil
	}
	full := make(chan chunk, chunks+1) // room for every buffer plus an error
	stop := make(chan struct{})
	go func() {
		defer close(full)
		for n > 0 {
			var b []byte
			select {
			case b = <-c.free:
			case <-stop:
				return
			}
			b = b[:min(int64(len(b)), n)]
			m, err := io.ReadFull(r, b)
			n -= int64(m)
			if m > 0 {
				full <- chunk{b: b[:m]}
			} else {
				c.free <- b[:cap(b)]
			}
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				full <- chunk{err: err}
				return
			}
		}
	}()
	var firstErr error
	for ch := range full {
		if ch.b == nil {
			if firstErr == nil {
				firstErr = ch.err
			}
			continue
		}
		if firstErr != nil { // drain after an error
			c.free <- ch.b[:cap(ch.b)]
			continue
		}
		c.sink.lend(ch.b, c.free)
		_, err := w.Write(ch.b)
		if p := c.sink.reclaim(); p != nil {
			c.free <- p[:cap(p)]
		}
		if err != nil {
			firstErr = err
			close(stop)
		}
	}
	return firstErr
}
