// Command explain says how two build outputs differ, down to the tar entry
// and header field.
//
//	explain A B
//
// A and B are files or directories (an OCI image layout, a bazel-bin
// tree). Exit status 0 when they are byte-identical, 1 when they differ
// (the report on stdout says where), 2 on bad usage.
//
// Directories are compared file by file (names, symlink targets and modes
// are ignored: they are the file system's, not the output's). A differing
// file is explained by its content:
//   - a tar (plain, gzip or zstd; OCI layers, docker archives): entry by
//     entry, every header field, every PAX record
//     (SCHILY.xattr.security.capability shown in hex) and the content
//     digest; a differing entry that is itself a tar (a layer inside a
//     docker archive) is explained recursively; when every field agrees
//     but the bytes do not, the first differing header block is named; for
//     compressed tars whose tar streams agree, the compressor is blamed;
//   - JSON (descriptors, manifests, configs, index.json): the differing
//     lines of the indented documents;
//   - anything else: the first differing byte offset and the sizes.
//
// Content-addressed files of two images (an OCI layout's blobs, a docker
// archive's layers) have no name in common where they differ, so both
// images are walked from their index (or manifest.json) and the
// manifests, configs and layers at the same place are compared.
//
// It reads tars with archive/tar and decompresses with compress/gzip and
// klauspost/compress/zstd, the readers capslayer itself uses; diffoscope
// would explain more, but is several hundred MiB that CI does not have.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// maxEntryDiffs stops a tar's report: the first differences explain the
// rest.
const maxEntryDiffs = 10

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: explain A B")
		return 2
	}
	a, b := args[0], args[1]
	for _, p := range args {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(stderr, "explain: %s does not exist\n", p)
			return 2
		}
	}
	e := &explainer{w: stdout}
	differ, err := e.paths(a, b)
	if err != nil {
		fmt.Fprintf(stderr, "explain: %v\n", err)
		return 2
	}
	if differ {
		return 1
	}
	return 0
}

type explainer struct{ w io.Writer }

func (e *explainer) printf(format string, args ...any) {
	fmt.Fprintf(e.w, format+"\n", args...)
}

// paths compares two files or two directory trees.
func (e *explainer) paths(a, b string) (bool, error) {
	sa, _ := os.Stat(a)
	sb, _ := os.Stat(b)
	if sa.IsDir() != sb.IsDir() {
		e.printf("%s and %s: one is a directory, the other is not", a, b)
		return true, nil
	}
	if !sa.IsDir() {
		da, err := os.ReadFile(a)
		if err != nil {
			return false, err
		}
		db, err := os.ReadFile(b)
		if err != nil {
			return false, err
		}
		return e.content(filepath.Base(a), da, db, 0), nil
	}
	fa, err := walk(a)
	if err != nil {
		return false, err
	}
	fb, err := walk(b)
	if err != nil {
		return false, err
	}
	differ := false
	onlyA, onlyB := minus(fa, fb), minus(fb, fa)
	// OCI image layouts anywhere in the trees: pair their blobs by role.
	for _, rel := range sortedKeys(fa) {
		if path.Base(rel) != "oci-layout" || fb[rel] == "" {
			continue
		}
		top := path.Dir(rel)
		getter := func(files map[string]string) func(string) []byte {
			return func(p string) []byte {
				q := path.Clean(path.Join(top, p))
				if files[q] == "" {
					return nil
				}
				d, err := os.ReadFile(files[q])
				if err != nil {
					return nil
				}
				return d
			}
		}
		pairs := ociPairs(getter(fa), getter(fb))
		if len(pairs) > 0 {
			differ = true
			where := ""
			if top != "." {
				where = top + ": "
			}
			usedA, usedB := e.pairs(where, pairs, getter(fa), getter(fb), 0)
			for _, p := range usedA {
				delete(onlyA, path.Clean(path.Join(top, p)))
			}
			for _, p := range usedB {
				delete(onlyB, path.Clean(path.Join(top, p)))
			}
		}
	}
	for _, rel := range sortedKeys(onlyA) {
		e.printf("%s: only in A", rel)
		differ = true
	}
	for _, rel := range sortedKeys(onlyB) {
		e.printf("%s: only in B", rel)
		differ = true
	}
	for _, rel := range sortedKeys(fa) {
		if fb[rel] == "" {
			continue
		}
		da, err := os.ReadFile(fa[rel])
		if err != nil {
			return false, err
		}
		db, err := os.ReadFile(fb[rel])
		if err != nil {
			return false, err
		}
		if e.content(rel, da, db, 0) {
			differ = true
		}
	}
	return differ, nil
}

// walk maps the slash-separated relative path of every regular file under
// root to its path, following no symlinks.
func walk(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = p
		}
		return nil
	})
	return out, err
}

func minus(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if _, ok := b[k]; !ok {
			out[k] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decompress returns the compression of data ("gzip", "zstd" or "none")
// and its decompressed bytes (data itself when they cannot be read).
func decompress(data []byte) (string, []byte) {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			if out, err := io.ReadAll(r); err == nil {
				return "gzip", out
			}
		}
		return "gzip", data
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(nil)
		if err == nil {
			defer d.Close()
			if out, err := d.DecodeAll(data, nil); err == nil {
				return "zstd", out
			}
		}
		return "zstd", data
	}
	return "none", data
}

// isTar looks for the ustar magic at offset 257 ("ustar\0" POSIX,
// "ustar " GNU).
func isTar(data []byte) bool {
	return len(data) >= 512 && string(data[257:262]) == "ustar"
}

func isJSON(data []byte) bool { return json.Valid(data) }

// entry is one tar entry: its header fields as text and where it starts.
type entry struct {
	name    string
	fields  [][2]string // field name, value, in a fixed order
	pax     map[string]string
	content []byte
	offset  int64
}

// entries reads a tar stream; an unreadable rest ends the list.
func entries(data []byte) []entry {
	var out []entry
	// archive/tar reads its input block by block, without reading ahead,
	// so the bytes.Reader's position is where the reader is.
	br := bytes.NewReader(data)
	tr := tar.NewReader(br)
	var start int64
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		dataStart := int64(len(data)) - int64(br.Len())
		var content []byte
		if h.Typeflag == tar.TypeReg {
			content, _ = io.ReadAll(tr)
		}
		pax := map[string]string{}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				v = hex.EncodeToString([]byte(v)) // capability bytes read best in hex
			} else {
				v = fmt.Sprintf("%q", v)
			}
			pax[k] = v
		}
		sum := sha256.Sum256(content)
		out = append(out, entry{
			name: strings.TrimSuffix(h.Name, "/"),
			fields: [][2]string{
				{"type", fmt.Sprintf("%q", string(h.Typeflag))},
				{"mode", fmt.Sprintf("0o%o", h.Mode)},
				{"uid", fmt.Sprint(h.Uid)},
				{"gid", fmt.Sprint(h.Gid)},
				{"uname", fmt.Sprintf("%q", h.Uname)},
				{"gname", fmt.Sprintf("%q", h.Gname)},
				{"size", fmt.Sprint(h.Size)},
				{"mtime", fmt.Sprint(h.ModTime.Unix())},
				{"linkname", fmt.Sprintf("%q", h.Linkname)},
				{"devmajor", fmt.Sprint(h.Devmajor)},
				{"devminor", fmt.Sprint(h.Devminor)},
				{"content sha256", hex.EncodeToString(sum[:])},
			},
			pax:     pax,
			content: content,
			offset:  start,
		})
		// The next header starts after this entry's data, padded to a
		// 512-byte block; the headers before the data are this entry's.
		start = dataStart + (h.Size+511)/512*512
	}
}

// tar prints how the tar streams a and b differ; it reports whether they do.
func (e *explainer) tar(where string, a, b []byte, depth int) bool {
	ea, eb := entries(a), entries(b)
	namesA, namesB := names(ea), names(eb)
	found := 0
	if !slices.Equal(namesA, namesB) {
		found++
		e.printf("%s: the entry lists differ (%d vs %d entries):", where, len(namesA), len(namesB))
		for _, l := range lineDiff(namesA, namesB) {
			e.printf("    %s", l)
		}
		ca, cb := contents(ea), contents(eb)
		if pairs := ociPairs(ca, cb); len(pairs) > 0 {
			e.pairs(where+" > ", pairs, ca, cb, depth+1)
		}
	}
	byNameB := map[string]entry{}
	for _, x := range eb {
		byNameB[x.name] = x
	}
	for _, x := range ea {
		y, ok := byNameB[x.name]
		if !ok {
			continue
		}
		for i, f := range x.fields {
			if f[1] != y.fields[i][1] {
				found++
				e.printf("%s: entry %s: %s: A=%s B=%s", where, x.name, f[0], f[1], y.fields[i][1])
			}
		}
		for _, k := range sortedKeys(union(x.pax, y.pax)) {
			va, oka := x.pax[k]
			vb, okb := y.pax[k]
			if va != vb || oka != okb {
				found++
				e.printf("%s: entry %s: PAX record %s: A=%s B=%s", where, x.name, k, orNone(va, oka), orNone(vb, okb))
			}
		}
		if !bytes.Equal(x.content, y.content) && depth < 3 {
			e.content(where+" > "+x.name, x.content, y.content, depth+1)
		}
		if found >= maxEntryDiffs {
			e.printf("%s: (stopping after %d differences)", where, found)
			return true
		}
	}
	if found > 0 {
		return true
	}
	if !bytes.Equal(a, b) {
		// Same entries and fields, different bytes: the header encoding
		// (PAX record order, ustar vs GNU fields, padding, the
		// end-of-archive blocks).
		i := firstDifference(a, b)
		block := i / 512 * 512
		owner := "the end-of-archive blocks or padding"
		for _, x := range ea {
			if x.offset <= block {
				owner = fmt.Sprintf("the header or data of entry %s (header at offset %d)", x.name, x.offset)
			}
		}
		e.printf("%s: every entry and field agrees, but the bytes differ at offset %d (512-byte block at %d), in %s; sizes %d and %d",
			where, i, block, owner, len(a), len(b))
		return true
	}
	return false
}

func names(es []entry) []string {
	out := make([]string, len(es))
	for i, x := range es {
		out[i] = x.name
	}
	return out
}

// contents maps an entry's name to its content, for ociPairs.
func contents(es []entry) func(string) []byte {
	m := map[string][]byte{}
	for _, x := range es {
		m[x.name] = x.content
	}
	return func(p string) []byte { return m[path.Clean(p)] }
}

func union(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func orNone(v string, ok bool) string {
	if !ok {
		return "None"
	}
	return v
}

func firstDifference(a, b []byte) int64 {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return int64(i)
		}
	}
	return int64(n)
}

// content prints why the contents a and b differ; it reports whether they
// do.
func (e *explainer) content(where string, a, b []byte, depth int) bool {
	if bytes.Equal(a, b) {
		return false
	}
	ka, da := decompress(a)
	kb, db := decompress(b)
	if ka != kb {
		e.printf("%s: compression differs: A is %s, B is %s", where, ka, kb)
	}
	if isTar(da) && isTar(db) {
		if bytes.Equal(da, db) {
			e.printf("%s: the tar streams are identical; the %s compressed bytes differ (offset %d): the compressor is not deterministic", where, ka, firstDifference(a, b))
			return true
		}
		prefix := where
		if ka != "none" {
			prefix = fmt.Sprintf("%s (%s)", where, ka)
		}
		return e.tar(prefix, da, db, depth)
	}
	if isJSON(da) && isJSON(db) {
		pa, pb := indentJSON(da), indentJSON(db)
		e.printf("%s: JSON differs:", where)
		diff := lineDiff(pa, pb)
		if len(diff) == 0 {
			e.printf("    (same document, different formatting or key order)")
		}
		for i, l := range diff {
			if i == 60 {
				break
			}
			e.printf("    %s", l)
		}
		return true
	}
	e.printf("%s: contents differ at byte %d; sizes %d and %d", where, firstDifference(da, db), len(da), len(db))
	return true
}

// indentJSON is the document's lines, indented with sorted keys
// (encoding/json sorts an object's keys when it writes a map).
func indentJSON(data []byte) []string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return strings.Split(string(data), "\n")
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return strings.Split(string(out), "\n")
}

// lineDiff lists the lines only in a ("-") and only in b ("+"), in order,
// from a longest common subsequence; inputs too long for that are
// compared line by line.
func lineDiff(a, b []string) []string {
	var out []string
	if len(a)*len(b) > 4_000_000 {
		for i := 0; i < max(len(a), len(b)); i++ {
			switch {
			case i >= len(a):
				out = append(out, "+"+b[i])
			case i >= len(b):
				out = append(out, "-"+a[i])
			case a[i] != b[i]:
				out = append(out, "-"+a[i], "+"+b[i])
			}
		}
		return out
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			i++
			j++
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+"+b[j])
			j++
		default:
			out = append(out, "-"+a[i])
			i++
		}
	}
	return out
}

// pair is a content-addressed file of A and of B at the same place of
// their images.
type pair struct{ role, a, b string }

func blobPath(digest string) string {
	algo, hexd, _ := strings.Cut(digest, ":")
	return "blobs/" + algo + "/" + hexd
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

type manifest struct {
	Manifests []descriptor `json:"manifests"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
}

type dockerManifest struct {
	Config string   `json:"Config"`
	Layers []string `json:"Layers"`
}

// ociPairs pairs the content-addressed files of two images by their role.
// An OCI layout (index.json) or a docker archive (manifest.json) names its
// blobs by digest, so two differing images have no file name in common
// for what differs: both are walked from the top, and the manifests,
// configs and layers at the same place are paired. get maps a path to its
// bytes, or nil. Pairs of the same path are left out.
func ociPairs(getA, getB func(string) []byte) []pair {
	var pairs []pair
	var descend func(role string, da, db descriptor)
	descend = func(role string, da, db descriptor) {
		pa, pb := blobPath(da.Digest), blobPath(db.Digest)
		pairs = append(pairs, pair{role, pa, pb})
		if !strings.Contains(da.MediaType, "manifest") && !strings.Contains(da.MediaType, "index") {
			return
		}
		var ja, jb manifest
		if !readJSON(getA(pa), &ja) || !readJSON(getB(pb), &jb) {
			return
		}
		for i := range min(len(ja.Manifests), len(jb.Manifests)) {
			descend(fmt.Sprintf("%s.manifests[%d]", role, i), ja.Manifests[i], jb.Manifests[i])
		}
		if ja.Config != nil && jb.Config != nil {
			descend(role+".config", *ja.Config, *jb.Config)
		}
		for i := range min(len(ja.Layers), len(jb.Layers)) {
			descend(fmt.Sprintf("%s.layers[%d]", role, i), ja.Layers[i], jb.Layers[i])
		}
	}
	var ia, ib manifest
	if readJSON(getA("index.json"), &ia) && readJSON(getB("index.json"), &ib) {
		for i := range min(len(ia.Manifests), len(ib.Manifests)) {
			descend(fmt.Sprintf("index.json.manifests[%d]", i), ia.Manifests[i], ib.Manifests[i])
		}
	}
	var ma, mb []dockerManifest
	if readJSON(getA("manifest.json"), &ma) && readJSON(getB("manifest.json"), &mb) {
		for i := range min(len(ma), len(mb)) {
			if ma[i].Config != "" && mb[i].Config != "" {
				pairs = append(pairs, pair{fmt.Sprintf("manifest.json[%d].Config", i), ma[i].Config, mb[i].Config})
			}
			for j := range min(len(ma[i].Layers), len(mb[i].Layers)) {
				pairs = append(pairs, pair{fmt.Sprintf("manifest.json[%d].Layers[%d]", i, j), ma[i].Layers[j], mb[i].Layers[j]})
			}
		}
	}
	var out []pair
	for _, p := range pairs {
		if p.a != p.b {
			out = append(out, p)
		}
	}
	return out
}

// readJSON decodes data into v; false for nil or what does not decode.
func readJSON(data []byte, v any) bool {
	if data == nil {
		return false
	}
	return json.Unmarshal(data, v) == nil
}

// pairs explains each pair of differently named blobs; it returns the
// paths it used.
func (e *explainer) pairs(where string, pairs []pair, getA, getB func(string) []byte, depth int) (usedA, usedB []string) {
	for _, p := range pairs {
		ba, bb := getA(p.a), getB(p.b)
		if ba == nil || bb == nil {
			continue
		}
		usedA, usedB = append(usedA, p.a), append(usedB, p.b)
		e.content(fmt.Sprintf("%s%s (%s vs %s)", where, p.role, p.a, p.b), ba, bb, depth)
	}
	return usedA, usedB
}
