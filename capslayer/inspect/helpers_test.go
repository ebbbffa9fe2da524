package inspect

import (
	"encoding/hex"

	"github.com/capslayer/rules_capslayer/internal/tartest"
)

// netBindEP is cap_net_bind_service=ep as setcap writes it (revision 2),
// the value getfattr -e hex prints on this machine.
var netBindEP = mustHex("0100000200040000000000000000000000000000")

// netBindP is cap_net_bind_service=p: its first byte is NUL.
var netBindP = mustHex("0000000200040000000000000000000000000000")

// netRawEPv3 is cap_net_raw=ep, revision 3 with rootid 100000.
var netRawEPv3 = mustHex("0100000300200000000000000000000000000000a0860100")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The tar fixtures are internal/tartest's; these names keep the tests short.
type entry = tartest.Entry

var (
	file      = tartest.File
	dir       = tartest.Dir
	makeTar   = tartest.Tar
	gzipBytes = tartest.Gzip
	zstdBytes = tartest.Zstd
)
