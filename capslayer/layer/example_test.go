package layer_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/capslayer/rules_capslayer/capslayer/caps"
	"github.com/capslayer/rules_capslayer/capslayer/layer"
)

func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	server := filepath.Join(dir, "server")
	if err := os.WriteFile(server, []byte("\x7fELF..."), 0o755); err != nil {
		log.Fatal(err)
	}

	fc, err := caps.Parse("cap_net_bind_service=ep")
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	res, err := layer.Write(&buf, []layer.File{{
		Path:   "/app/server",
		Source: server,
		Caps:   &caps.Xattr{Caps: fc, Revision: 2}, // what setcap writes
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.MediaType)
	fmt.Println(res.Digest == res.DiffID) // uncompressed

	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %04o %d:%d", h.Name, h.Mode, h.Uid, h.Gid)
		if v, ok := h.PAXRecords[caps.PAXRecordKey]; ok {
			fmt.Printf(" security.capability=%x", v)
		}
		fmt.Println()
	}
	// Output:
	// application/vnd.oci.image.layer.v1.tar
	// true
	// app/ 0755 0:0
	// app/server 0755 0:0 security.capability=0100000200040000000000000000000000000000
}
