package layer

import (
	"hash"
	"io"
)

// The streaming machinery is hand-written rather than io.Copy plus
// io.MultiWriter because those run reading, hashing and writing one after
// the other on one goroutine; overlapping them makes a layer cost about as
// much as the slowest of the three (hashing) instead of their sum.

const (
	// chunkSize is the size of one read from a source file. Large reads
	// keep the system call count low; see BenchmarkWrite.
	chunkSize = 1 << 20
	// chunks is how many chunks are in flight: one being read, one being
	// hashed and written, spares so neither side waits. Memory used by a
	// layer of any size is about chunks*chunkSize.
	chunks = 4
	// teeMin is the smallest write hashed on the helper goroutine; smaller
	// ones (tar headers) are cheaper to hash in place.
	teeMin = 64 << 10
)

// tee writes everything to w and to h. For large writes, h runs on a helper
// goroutine while w.Write runs on the caller's; Write returns when both
// are done, so p is not retained.
type tee struct {
	w    io.Writer
	h    hash.Hash
	work chan []byte
	done chan struct{}
}

func newTee(w io.Writer, h hash.Hash) *tee {
	t := &tee{w: w, h: h, work: make(chan []byte), done: make(chan struct{})}
	go func() {
		for p := range t.work {
			t.h.Write(p) // hash.Hash.Write never fails
			t.done <- struct{}{}
		}
	}()
	return t
}

func (t *tee) Write(p []byte) (int, error) {
	if len(p) < teeMin {
		t.h.Write(p)
		return t.w.Write(p)
	}
	t.work <- p
	n, err := t.w.Write(p)
	<-t.done
	return n, err
}

// stop ends the helper goroutine. The tee must not be written afterwards.
func (t *tee) stop() { close(t.work) }

// copier copies file contents with read-ahead: a helper goroutine reads the
// next chunk while the current one is written. Its buffers are reused for
// every file of a layer.
type copier struct {
	free chan []byte
}

func newCopier() *copier {
	c := &copier{free: make(chan []byte, chunks)}
	for range chunks {
		c.free <- make([]byte, chunkSize)
	}
	return c
}

type chunk struct {
	b   []byte
	err error
}

// copyN copies exactly n bytes from r to w. It returns io.ErrUnexpectedEOF
// if r ends early. All buffers are back in c.free when it returns.
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
				c.free <- b
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
		if firstErr == nil {
			if _, err := w.Write(ch.b); err != nil {
				firstErr = err
				close(stop)
			}
		}
		c.free <- ch.b[:cap(ch.b)]
	}
	return firstErr
}
