package digest

import (
	"io"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	w := New()
	io.WriteString(w, "hello ")
	io.WriteString(w, "world\n")
	// printf 'hello world\n' | sha256sum
	const want = "sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
	if got := w.Digest().String(); got != want || w.Size() != 12 {
		t.Errorf("Digest() = %s, Size() = %d; want %s, 12", got, w.Size(), want)
	}
	if got := Bytes([]byte("hello world\n")).String(); got != want {
		t.Errorf("Bytes() = %s, want %s", got, want)
	}
	if got := New().Digest().String(); !strings.HasSuffix(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Errorf("empty digest = %s", got)
	}
}
