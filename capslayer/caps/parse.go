package caps

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/capslayer/rules_capslayer/capslayer/internal/abbrev"
	"github.com/capslayer/rules_capslayer/capslayer/internal/suggest"
)

// ParseError reports capability text that cannot be parsed or does not
// describe valid file capabilities. It names the bad token and, when it
// can, suggests a fix.
type ParseError struct {
	// Text is the whole input.
	Text string
	// Offset is the byte offset of Token in Text, or -1 when the
	// problem is the result as a whole (nothing granted, effective bit
	// not all-or-nothing).
	Offset int
	// Token is the offending part of Text, "" when Offset is -1.
	Token string
	// Msg says what is wrong.
	Msg string
	// Suggestion says how to fix it; it may be "".
	Suggestion string
}

// Error implements error.
func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid capability text %s: %s", abbrev.Quote(e.Text), e.Msg)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (at offset %d)", e.Offset)
	}
	if e.Suggestion != "" {
		b.WriteString("; ")
		b.WriteString(e.Suggestion)
	}
	return b.String()
}

// ParseSetcap parses text exactly as setcap does: libcap's cap_from_text
// grammar, then setcap's rule that the effective flag is all-or-nothing.
// An empty result ("", "=", "cap_chown=") is accepted, as setcap accepts
// it; so is an effective flag on nothing ("cap_chown=e", which setcap
// stores as a header with the effective bit and no capabilities).
//
// Deliberate differences from cap_from_text, each pinned by a test:
// "all" means the NamedCount named capabilities rather than those the
// running kernel knows (the same on a kernel with 41 capabilities, as
// here), and a NUL byte is an error instead of the end of the text.
func ParseSetcap(text string) (FileCaps, error) {
	p := parser{text: text, strict: true}
	if err := p.checkNUL(); err != nil {
		return FileCaps{}, err
	}
	if err := p.clauses(text, 0); err != nil {
		return FileCaps{}, err
	}
	return p.result()
}

// Parse parses capability text in any of the forms users bring along
// (see the package documentation): setcap syntax, where names may also
// omit their "cap_" prefix as in ko ("bpf=ep"), or a list of bare
// capability names, each meaning "=p" as in ko, Docker's --cap-add and
// Kubernetes' capabilities.add ("NET_BIND_SERVICE", "cap_net_raw,bpf",
// "[NET_RAW, BPF]", or YAML "- NET_RAW" lines).
//
// Unlike ParseSetcap, Parse rejects a result that grants nothing.
func Parse(text string) (FileCaps, error) {
	p := parser{text: text}
	if err := p.checkNUL(); err != nil {
		return FileCaps{}, err
	}
	items, err := p.splitList()
	if err != nil {
		return FileCaps{}, err
	}
	setcapSyntax := false
	for _, it := range items {
		if strings.ContainsAny(it.s, "=+-") {
			setcapSyntax = true
		}
	}
	if setcapSyntax {
		for _, it := range items {
			if err := p.clauses(it.s, it.off); err != nil {
				return FileCaps{}, err
			}
		}
	} else {
		for _, it := range items {
			if err := p.names(it.s, it.off); err != nil {
				return FileCaps{}, err
			}
		}
	}
	f, err := p.result()
	if err != nil {
		return FileCaps{}, err
	}
	if f.IsEmpty() {
		return FileCaps{}, p.emptyError()
	}
	return f, nil
}

// parser holds the three capability sets that cap_from_text builds up
// clause by clause.
type parser struct {
	text string
	// strict rejects names without the "cap_" prefix, as libcap does.
	strict  bool
	e, p, i Mask
}

func (p *parser) errAt(off int, token, msg, suggestion string) *ParseError {
	if abbrev.Long(token) { // a 128 KiB name is not echoed whole
		q, short := strconv.Quote(token), abbrev.Quote(token)
		msg, suggestion = strings.ReplaceAll(msg, q, short), strings.ReplaceAll(suggestion, q, short)
	}
	return &ParseError{Text: p.text, Offset: off, Token: token, Msg: msg, Suggestion: suggestion}
}

func (p *parser) checkNUL() error {
	if i := strings.IndexByte(p.text, 0); i >= 0 {
		return p.errAt(i, "\x00", "NUL byte in capability text", "remove it; setcap would silently stop reading there")
	}
	return nil
}

// result applies setcap's effective rule (libcap's _fcaps_save): when
// any effective bit is set, every permitted or inheritable capability
// must be effective, because a file has only one effective bit.
func (p *parser) result() (FileCaps, error) {
	f := FileCaps{Permitted: p.p, Inheritable: p.i, Effective: p.e != 0}
	if p.e == 0 {
		return f, nil
	}
	if missing := (p.p | p.i) &^ p.e; missing != 0 {
		all := FileCaps{Permitted: p.p, Inheritable: p.i, Effective: true}
		none := FileCaps{Permitted: p.p, Inheritable: p.i}
		verb := "is"
		if len(missing.List()) > 1 {
			verb = "are"
		}
		return FileCaps{}, &ParseError{
			Text:   p.text,
			Offset: -1,
			Msg: fmt.Sprintf("effective file capabilities must either be empty, or exactly match the union of selected permitted and inheritable bits (as setcap says): %s %s not effective while %s is",
				missing, verb, (p.e & (p.p | p.i)).String()),
			Suggestion: fmt.Sprintf("a file has ONE effective bit for all its capabilities; write %q to make all of them effective at exec, or %q and raise them in the program at run time (more robust: with =ep, exec fails with EPERM when the runtime does not grant every one)",
				all.String(), none.String()),
		}
	}
	return f, nil
}

func (p *parser) emptyError() error {
	if p.e != 0 {
		fix := FileCaps{Permitted: p.e & AllNamed, Effective: true}
		if fix.IsEmpty() {
			fix.Permitted = p.e
		}
		return &ParseError{Text: p.text, Offset: -1,
			Msg:        "grants no capabilities: the effective flag alone means nothing",
			Suggestion: fmt.Sprintf("add p (permitted), e.g. %q", fix.String()),
		}
	}
	return &ParseError{Text: p.text, Offset: -1,
		Msg:        "grants no capabilities",
		Suggestion: `name at least one capability with p (permitted) or i (inheritable), e.g. "cap_net_bind_service=p" or just "NET_BIND_SERVICE"`,
	}
}

// isSpace is C's isspace in the C locale, which cap_from_text uses.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isWord(c byte) bool  { return isAlpha(c) || isDigit(c) || c == '_' }

// charToken returns the character at s[i] as a token, whole if it is a
// multi-byte UTF-8 sequence.
func charToken(s string, i int) string {
	_, n := utf8.DecodeRuneInString(s[i:])
	return s[i : i+n]
}

// clauses parses s, which starts at byte off of p.text, as a sequence of
// cap_from_text clauses and applies them to p. It follows libcap's
// cap_from_text (cap_text.c) step by step so that it accepts and rejects
// the same texts.
func (p *parser) clauses(s string, off int) error {
	pos := 0
	for {
		for pos < len(s) && isSpace(s[pos]) {
			pos++
		}
		if pos == len(s) {
			return nil
		}
		start := pos
		var list Mask
		listed := false
		switch c := s[pos]; {
		case isWord(c):
			for {
				end := pos
				for end < len(s) && isWord(s[end]) {
					end++
				}
				m, err := p.lookup(s[pos:end], off+pos)
				if err != nil {
					return err
				}
				if strings.EqualFold(s[pos:end], "all") {
					// libcap's forceall assigns the list, so
					// "55,all" is just "all" (but "all,55" has 55).
					list = m
				} else {
					list |= m
				}
				pos = end
				if pos == len(s) || s[pos] != ',' {
					break
				}
				pos++
				if pos == len(s) || !isWord(s[pos]) {
					tok := ","
					return p.errAt(off+pos-1, tok, "expected a capability name after ','",
						"separate names with commas only, without spaces or empty entries, e.g. \"cap_chown,cap_kill=p\"")
				}
			}
			listed = true
		case c == '+' || c == '-':
			return p.errAt(off+pos, string(c), fmt.Sprintf("a capability list is required before '%c'", c),
				fmt.Sprintf("name the capabilities first, e.g. \"cap_net_bind_service%cp\"; only '=' may stand alone, meaning all capabilities", c))
		default:
			list = AllNamed
		}

		if pos == len(s) || isSpace(s[pos]) {
			names := s[start:pos]
			return p.errAt(off+start, names, fmt.Sprintf("missing operator after %q", names),
				fmt.Sprintf("every setcap clause needs '=', '+' or '-' and flags, e.g. \"%s=p\"; to use the plain list form (each name meaning =p), write no operator anywhere in the text", names))
		}
		op, opPos := s[pos], pos
		pos++
		switch {
		case op == '=' && pos < len(s) && (s[pos] == '+' || s[pos] == '-'):
			if !listed {
				return p.errAt(off+pos-1, s[pos-1:pos+1], fmt.Sprintf("%q needs an explicit capability list before it", s[pos-1:pos+1]),
					fmt.Sprintf("write the names first, e.g. %q", "all"+clauseAt(s, start)))
			}
			if s[pos] == '+' {
				op = 'P'
			} else {
				op = 'M'
			}
			pos++
		case op == '=' || op == '+' || op == '-':
		case listed:
			tok := charToken(s, pos-1)
			return p.errAt(off+pos-1, tok, fmt.Sprintf("unexpected %q after %q", tok, s[start:pos-1]),
				"expected ',' and another name, or an operator '=', '+' or '-' followed by flags e, i, p")
		default:
			tok := charToken(s, pos-1)
			return p.errAt(off+pos-1, tok, fmt.Sprintf("unexpected %q", tok),
				"a clause starts with capability names (letters, digits, '_') or '=', e.g. \"cap_chown=p\"")
		}

		// The action list: flags after the operator, then optionally
		// more '+flags' or '-flags' on the same list.
		for {
			flags := 0
			n := 0
			for pos < len(s) && !isSpace(s[pos]) {
				c := s[pos]
				if (c == '+' || c == '-') && n > 0 {
					break
				}
				switch c {
				case 'e':
					flags |= stEff
				case 'i':
					flags |= stInh
				case 'p':
					flags |= stPer
				default:
					return p.flagError(s, pos, off)
				}
				n++
				pos++
			}
			if n == 0 && op != '=' {
				opText := string(op)
				switch op {
				case 'P':
					opText = "=+"
				case 'M':
					opText = "=-"
				}
				return p.errAt(off+opPos, opText, fmt.Sprintf("%q must be followed by flags", opText),
					"flags are e (effective), i (inheritable) and p (permitted), e.g. \"cap_chown+p\"")
			}
			p.apply(op, list, flags)
			if pos < len(s) && (s[pos] == '+' || s[pos] == '-') {
				if !listed {
					return p.errAt(off+pos, s[pos:pos+1], fmt.Sprintf("'%c' needs an explicit capability list", s[pos]),
						fmt.Sprintf("write the names first, e.g. %q", "all"+clauseAt(s, start)))
				}
				op, opPos = s[pos], pos
				pos++
				if pos == len(s) || !isAlpha(s[pos]) {
					return p.errAt(off+pos-1, string(op), fmt.Sprintf("'%c' must be followed by flags", op),
						"flags are e (effective), i (inheritable) and p (permitted), e.g. \"cap_chown=p+e\"")
				}
				continue
			}
			break
		}
	}
}

// clauseAt returns the clause of s that starts at byte start.
func clauseAt(s string, start int) string {
	end := start
	for end < len(s) && !isSpace(s[end]) {
		end++
	}
	return s[start:end]
}

func (p *parser) flagError(s string, pos, off int) error {
	tok := charToken(s, pos)
	switch c := s[pos]; {
	case c == 'E' || c == 'I' || c == 'P':
		return p.errAt(off+pos, tok, fmt.Sprintf("unknown flag %q", tok),
			fmt.Sprintf("flags are lowercase: use %q", strings.ToLower(tok)))
	case c == '=':
		return p.errAt(off+pos, tok, "unexpected '=' among flags",
			"a clause has one '='; start another clause after a space, e.g. \"cap_chown=p cap_kill=i\"")
	case c == ',':
		return p.errAt(off+pos, tok, "unexpected ',' after the flags",
			"list all names before the operator, e.g. \"cap_chown,cap_kill=p\", or start another clause after a space")
	case c == '+' || c == '-':
		return p.errAt(off+pos, tok, fmt.Sprintf("unexpected %q where flags were expected", tok),
			"flags are e (effective), i (inheritable) and p (permitted), e.g. \"cap_chown=p+e\"")
	}
	return p.errAt(off+pos, tok, fmt.Sprintf("unknown flag %q", tok),
		"flags are e (effective), i (inheritable) and p (permitted); separate clauses with spaces")
}

// apply performs one operation of a clause: '=' (clear the listed
// capabilities in all three sets, then raise the flags), '+' (raise),
// '-' (lower), 'P' ("=+", same as '='), 'M' ("=-", clear, then lower).
func (p *parser) apply(op byte, list Mask, flags int) {
	if op == '=' || op == 'P' || op == 'M' {
		p.e &^= list
		p.p &^= list
		p.i &^= list
	}
	for _, fs := range []struct {
		flag int
		set  *Mask
	}{{stEff, &p.e}, {stInh, &p.i}, {stPer, &p.p}} {
		if flags&fs.flag == 0 {
			continue
		}
		set := fs.set
		if op == '-' || op == 'M' {
			*set &^= list
		} else {
			*set |= list
		}
	}
}

// lookup resolves one entry of a capability list: "all", a name, or a
// number read like C's strtoul with base 0 (decimal, 0x hex, 0 octal).
func (p *parser) lookup(tok string, off int) (Mask, error) {
	if isDigit(tok[0]) {
		n, ok := parseCNumber(tok)
		if !ok {
			return 0, p.errAt(off, tok, fmt.Sprintf("invalid capability number %q", tok),
				"numbers are read as in C: decimal (12), hex with 0x (0xc) or octal with a leading 0 (014), so 08 is not a number")
		}
		if n >= MaxBits {
			return 0, p.errAt(off, tok, fmt.Sprintf("capability number %s is out of range", tok),
				"file capabilities are numbered 0 to 63")
		}
		return 1 << n, nil
	}
	lower := strings.ToLower(tok)
	if lower == "all" {
		return AllNamed, nil
	}
	if c, ok := byName[lower]; ok {
		return 1 << c, nil
	}
	if c, ok := Lookup(tok); ok {
		if !p.strict {
			return 1 << c, nil
		}
		return 0, p.errAt(off, tok, fmt.Sprintf("unknown capability %q", tok),
			fmt.Sprintf("setcap needs the cap_ prefix: %q", Name(c)))
	}
	return 0, p.errAt(off, tok, fmt.Sprintf("unknown capability %q", tok), suggestName(tok))
}

// parseCNumber parses tok as C's strtoul(tok, &end, 0) and reports
// whether it consumed all of tok. Values that do not fit saturate, which
// is out of range anyway.
func parseCNumber(tok string) (uint64, bool) {
	base := uint64(10)
	digits := tok
	switch {
	case len(tok) >= 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X'):
		base, digits = 16, tok[2:]
	case tok[0] == '0':
		base = 8
	}
	if digits == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d uint64
		switch {
		case isDigit(c):
			d = uint64(c - '0')
		case 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if n < 1<<32 {
			n = n*base + d
		}
	}
	return n, true
}

// suggestName proposes the named capability closest to tok: one whose
// name starts with tok, or one within a small edit distance.
func suggestName(tok string) string {
	want := canonicalCandidate(tok)
	var prefixed []string
	for c := 0; c < NamedCount; c++ {
		name := Name(c)
		if len(want) >= len("cap_")+3 && strings.HasPrefix(name, want) {
			prefixed = append(prefixed, name)
		}
	}
	c, ok := Closest(tok)
	switch {
	case ok:
		return fmt.Sprintf("did you mean %q?", Name(c))
	case len(prefixed) == 1:
		return fmt.Sprintf("did you mean %q?", prefixed[0])
	case len(prefixed) > 1:
		return fmt.Sprintf("did you mean one of %s?", strings.Join(prefixed, ", "))
	}
	return "capability names are listed in capabilities(7), e.g. cap_net_bind_service or NET_BIND_SERVICE; numbers 0 to 63 are accepted too"
}

// canonicalCandidate lower-cases name and adds the cap_ prefix.
func canonicalCandidate(name string) string {
	want := strings.ToLower(name)
	if !strings.HasPrefix(want, "cap_") {
		want = "cap_" + want
	}
	return want
}

// Closest returns the named capability nearest to name by edit distance
// (case-insensitive, with or without the cap_ prefix), when it is near
// enough to be a likely typo: at most max(2, len/4) edits, where len is the
// length of the name without the prefix. It is what error messages use for
// their did-you-mean.
func Closest(name string) (int, bool) {
	want := canonicalCandidate(name)
	best, bestD := -1, 1<<30
	for c := 0; c < NamedCount; c++ {
		if d := suggest.Distance(want, Name(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD > max(2, (len(want)-len("cap_"))/4) {
		return 0, false
	}
	return best, true
}

// item is one element of a list input, with its byte offset in the text.
type item struct {
	s   string
	off int
}

// splitList unwraps the list forms of Parse: a YAML/JSON flow list
// "[a, b]" and a YAML block list of "- a" lines. Any other text is one
// item. Neither list form is valid setcap text (a clause cannot start
// with '[' or '-'), so unwrapping never changes what setcap text means.
func (p *parser) splitList() ([]item, error) {
	s := p.text
	start := 0
	for start < len(s) && isSpace(s[start]) {
		start++
	}
	end := len(s)
	for end > start && isSpace(s[end-1]) {
		end--
	}
	if start < end && s[start] == '[' {
		if s[end-1] != ']' {
			return nil, p.errAt(start, "[", "list opened with '[' is not closed with ']'",
				"write a list as [NET_RAW, NET_ADMIN]")
		}
		return p.splitFlow(start+1, end-1)
	}
	if items, ok, err := p.splitBlock(); ok || err != nil {
		return items, err
	}
	return []item{{s, 0}}, nil
}

// splitFlow splits p.text[from:to] at commas outside quotes.
func (p *parser) splitFlow(from, to int) ([]item, error) {
	var items []item
	s := p.text
	begin := from
	var quote byte
	quoteAt := 0
	for i := from; i <= to; i++ {
		if i < to && quote != 0 {
			if s[i] == quote {
				quote = 0
			}
			continue
		}
		if i < to && (s[i] == '"' || s[i] == '\'') {
			quote, quoteAt = s[i], i
			continue
		}
		if i == to || s[i] == ',' {
			if quote != 0 {
				return nil, p.errAt(quoteAt, string(quote), "unterminated quote in list",
					"close the quote, e.g. [\"NET_RAW\", \"NET_ADMIN\"]")
			}
			it, err := p.element(begin, i)
			if err != nil {
				return nil, err
			}
			if it.s != "" {
				items = append(items, it)
			}
			begin = i + 1
		}
	}
	return items, nil
}

// splitBlock splits a YAML block list: every non-blank line starts with
// '-' and a space (or is a lone '-').
func (p *parser) splitBlock() ([]item, bool, error) {
	var items []item
	s := p.text
	isList := false
	for lineStart := 0; lineStart < len(s); {
		lineEnd := strings.IndexByte(s[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(s)
		} else {
			lineEnd += lineStart
		}
		i := lineStart
		for i < lineEnd && isSpace(s[i]) {
			i++
		}
		if i < lineEnd {
			if s[i] != '-' || (i+1 < lineEnd && !isSpace(s[i+1])) {
				return nil, false, nil
			}
			isList = true
			it, err := p.element(i+1, lineEnd)
			if err != nil {
				return nil, false, err
			}
			if it.s != "" {
				items = append(items, it)
			}
		}
		lineStart = lineEnd + 1
	}
	return items, isList, nil
}

// element trims p.text[from:to] and removes one pair of matching quotes.
func (p *parser) element(from, to int) (item, error) {
	s := p.text
	for from < to && isSpace(s[from]) {
		from++
	}
	for to > from && isSpace(s[to-1]) {
		to--
	}
	if to-from >= 2 && (s[from] == '"' || s[from] == '\'') && s[to-1] == s[from] {
		from++
		to--
	} else if to > from && (s[from] == '"' || s[from] == '\'') {
		return item{}, p.errAt(from, s[from:from+1], "unterminated quote in list", "close the quote")
	}
	return item{s[from:to], from}, nil
}

// names parses s, at byte off of p.text, as capability names separated
// by commas or whitespace, each meaning "=p".
func (p *parser) names(s string, off int) error {
	for i := 0; i < len(s); {
		if s[i] == ',' || isSpace(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != ',' && !isSpace(s[j]) {
			j++
		}
		tok := s[i:j]
		if !isWord(tok[0]) {
			t := charToken(s, i)
			return p.errAt(off+i, t, fmt.Sprintf("unexpected %q", t),
				"write capability names separated by commas or spaces, e.g. \"NET_BIND_SERVICE,NET_RAW\", or setcap text such as \"cap_net_bind_service=ep\"")
		}
		k := 0
		for k < len(tok) && isWord(tok[k]) {
			k++
		}
		if k < len(tok) {
			t := charToken(tok, k)
			return p.errAt(off+i+k, t, fmt.Sprintf("unexpected %q in capability name %q", t, tok),
				"capability names are letters, digits and '_'")
		}
		m, err := p.lookup(tok, off+i)
		if err != nil {
			return err
		}
		p.p |= m
		i = j
	}
	return nil
}
