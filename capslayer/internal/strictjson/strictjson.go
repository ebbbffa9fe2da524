// Package strictjson checks the object keys of a JSON document against the
// Go type it is decoded into, before encoding/json decodes it.
//
// encoding/json matches keys to struct fields loosely: in any case
// ("PROFILE" sets Profile), with Unicode case folding ("juſtifications",
// with U+017F, sets Justifications), and, when a key appears twice, the
// last one wins. For a file that states a security policy this lets a
// reviewer, a diff or grep read one thing while the program reads
// another. Check refuses, at every level of nesting:
//
//   - a key that is not exactly the JSON name of a field of the struct at
//     that level (no case or Unicode folding);
//   - a key that appears twice in one object;
//   - a key written with a backslash escape ("\u0070rofile" hides from
//     grep).
//
// The error, a *KeyError, names the key and where it is (line, column and
// byte offset). encoding/json/v2 rejects the first two by itself, but it is
// only an experiment (GOEXPERIMENT=jsonv2) in the Go this module builds with;
// this package is the token walk it would replace.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply Check follows nested objects and arrays. The
// documents it guards (configuration files) nest a few levels.
const MaxDepth = 32

// Problems a KeyError reports.
const (
	Unknown   = "unknown"   // not a field of the struct at that level
	Duplicate = "duplicate" // twice in the same object
	Escaped   = "escaped"   // written with a backslash escape
)

// KeyError is a key the document may not hold.
type KeyError struct {
	Key     string // the key, decoded
	Where   string // the object holding it: "" for the top level, else e.g. "justifications[1]"
	Problem string // Unknown, Duplicate or Escaped
	Offset  int64  // byte offset of the key's opening quote
	Line    int    // 1-based line of Offset
	Column  int    // 1-based column of Offset, in characters
	// Known lists the keys the object may hold (Unknown); First is the
	// position of the earlier occurrence (Duplicate), as "line L, column C".
	Known []string
	First string
}

// Position is "line L, column C (byte B)".
func (e *KeyError) Position() string {
	return fmt.Sprintf("line %d, column %d (byte %d)", e.Line, e.Column, e.Offset)
}

func (e *KeyError) Error() string {
	in := ""
	if e.Where != "" {
		in = " in " + e.Where
	}
	key := quote(e.Key)
	switch e.Problem {
	case Duplicate:
		return fmt.Sprintf("%s: key %s%s appears twice in one object (first at %s): decoders disagree on which one counts; keep one", e.Position(), key, in, e.First)
	case Escaped:
		return fmt.Sprintf("%s: key %s%s is written with a backslash escape: write keys as plain text, so that what a reader or grep sees is what counts", e.Position(), key, in)
	}
	hint := ""
	for _, k := range e.Known {
		if strings.EqualFold(k, e.Key) {
			hint = fmt.Sprintf("did you mean %q? ", k)
		}
	}
	if len(e.Known) == 0 {
		return fmt.Sprintf("%s: key %s%s is not allowed: this object takes no keys", e.Position(), key, in)
	}
	return fmt.Sprintf("%s: unknown key %s%s: keys are exact and case-sensitive; %sknown keys: %s", e.Position(), key, in, hint, strings.Join(e.Known, ", "))
}

// quote quotes s as %q does, at most 64 bytes of it.
func quote(s string) string {
	if len(s) <= 64 {
		return fmt.Sprintf("%q", s)
	}
	n := 64
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:n], len(s))
}

// Check walks the first JSON value of data and returns a *KeyError for the
// first key that the type of v (a struct, or a pointer to one) does not take
// exactly, or that appears twice in an object, or is escaped. Inside maps
// and untyped values only duplicates and escapes are refused. A syntax error
// is returned as encoding/json reports it (*json.SyntaxError); type errors
// are left to the decoding that follows. Trailing data is not read.
func Check(data []byte, v any) error {
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	return w.value(reflect.TypeOf(v), "", 0)
}

type walker struct {
	data []byte
	dec  *json.Decoder
}

// value walks one value whose Go type is t (nil when unknown).
func (w *walker) value(t reflect.Type, where string, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth >= MaxDepth {
		return fmt.Errorf("%s: nested more than %d levels deep", w.position(w.dec.InputOffset()-1), MaxDepth)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", where, i), depth+1); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = structFields(t)
		}
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		seen := map[string]int64{}
		for w.dec.More() {
			before := w.dec.InputOffset()
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string) // Token returns object keys as strings
			start := w.keyStart(before)
			fail := func(problem string) *KeyError {
				e := &KeyError{Key: key, Where: where, Problem: problem, Offset: start}
				e.Line, e.Column = w.lineColumn(start)
				return e
			}
			if bytes.IndexByte(w.data[start:w.dec.InputOffset()], '\\') >= 0 {
				return fail(Escaped)
			}
			if first, dup := seen[key]; dup {
				e := fail(Duplicate)
				l, c := w.lineColumn(first)
				e.First = fmt.Sprintf("line %d, column %d", l, c)
				return e
			}
			seen[key] = start
			ft := elem
			if fields != nil {
				var known bool
				if ft, known = fields[key]; !known {
					e := fail(Unknown)
					for k := range fields {
						e.Known = append(e.Known, k)
					}
					slices.SortFunc(e.Known, func(a, b string) int { return fieldIndex(t, a) - fieldIndex(t, b) })
					return e
				}
			}
			inner := key
			if where != "" {
				inner = where + "." + key
			}
			if err := w.value(ft, inner, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

// keyStart finds the opening quote of the key that follows offset from
// (after a '{', a ',' and white space).
func (w *walker) keyStart(from int64) int64 {
	i := from
	for i < int64(len(w.data)) && w.data[i] != '"' {
		i++
	}
	return i
}

func (w *walker) lineColumn(off int64) (line, col int) {
	before := w.data[:min(off, int64(len(w.data)))]
	nl := bytes.LastIndexByte(before, '\n')
	return 1 + bytes.Count(before, []byte("\n")), 1 + utf8.RuneCount(before[nl+1:])
}

func (w *walker) position(off int64) string {
	l, c := w.lineColumn(off)
	return fmt.Sprintf("line %d, column %d (byte %d)", l, c, off)
}

// structFields maps the JSON names of t's fields, as encoding/json names
// them, to their types. Embedded structs are not flattened: the types Check
// guards have none.
func structFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		if name, ok := jsonName(t.Field(i)); ok {
			m[name] = t.Field(i).Type
		}
	}
	return m
}

// fieldIndex orders known keys as the struct declares them.
func fieldIndex(t reflect.Type, name string) int {
	for i := range t.NumField() {
		if n, ok := jsonName(t.Field(i)); ok && n == name {
			return i
		}
	}
	return -1
}

func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name, true
	}
	return f.Name, true
}
