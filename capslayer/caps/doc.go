// Package caps parses Linux file capability text and encodes and decodes
// the security.capability extended attribute (the kernel's vfs_cap_data)
// that carries file capabilities, byte for byte as setcap and getcap
// (libcap 2.66) do.
//
// # Accepted text
//
// Parse accepts two syntaxes; which one applies is decided by the whole
// input: if it contains '=', '+' or '-' (after unwrapping a list, see
// below) it is setcap syntax, otherwise it is a list of names.
//
// Setcap syntax is libcap's cap_from_text(3): whitespace-separated
// clauses, each a comma-separated list of capabilities followed by one or
// more operator-and-flags pairs. Operators: '=' clears the listed
// capabilities and raises the flags that follow (flags may be empty),
// '+' raises and '-' lowers them; "=+" and "=-" first clear. Flags are
// e (effective), i (inheritable) and p (permitted), lowercase only. A
// list entry is a name ("cap_chown", any case), "all" (the NamedCount
// named capabilities) or a number read like C's strtoul with base 0
// ("12", "0xc", "014"; below 64). A missing list before '=' means all;
// '+' and '-' need a list. Parse also accepts names without the "cap_"
// prefix here ("bpf=ep", as ko documents it); ParseSetcap does not, as
// setcap does not.
//
// A list of names grants each name permitted only, like "=p" (ko's
// list form, Docker's --cap-add, Kubernetes' capabilities.add). Names
// are case-insensitive, the "cap_" prefix is optional, "all" and numbers
// are accepted, and they are separated by commas and/or whitespace:
// "NET_BIND_SERVICE", "cap_net_raw,bpf", "net_raw bpf".
//
// Either syntax may be wrapped in a YAML or JSON list, whose elements are
// joined as if separated by spaces: a flow list "[NET_RAW, 'BPF']" or a
// block list of lines "- NET_RAW". Neither is valid setcap text, so the
// unwrapping is unambiguous.
//
// The file model has ONE effective bit, so setcap's rule applies to both
// syntaxes: if any capability is effective, every permitted and
// inheritable one must be. Parse also rejects text that grants nothing
// ("", "=", "cap_chown=", "cap_chown=e"), which setcap would store as a
// useless empty value; ParseSetcap accepts it like setcap.
//
// Errors are *ParseError values that name the offending token and
// suggest a fix, e.g. a near capability name for a misspelt one.
//
// # Canonical text and encoding
//
// FileCaps.String is the text getcap prints, e.g.
// "cap_net_bind_service=ep". FileCaps.EncodeV2 gives the 20-byte
// revision 2 value setcap writes; FileCaps.EncodeV3 the 24-byte revision
// 3 value of `setcap -n rootid`, which the kernel ignores outside that
// user namespace. Decode reads revisions 1, 2 and 3.
//
// See docs/capability-syntax.md for the user-facing reference.
package caps
