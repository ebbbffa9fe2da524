// Package policy checks the Linux file capabilities found in a container
// image against a least-privilege policy. What a container runtime must
// grant for them to work is package requirements.
//
// A Policy names a Profile (an allowlist: pss-restricted, pss-baseline,
// docker-default or none), extra allowed capabilities, the number of
// capabilities a file may carry without a written justification (MaxCaps,
// default 3) and the justifications themselves. Audit applies it to every
// file with a security.capability attribute in an inspect.Report and returns
// a Result: one FileResult per file (including files from base layers and
// files that later layers overwrote or deleted) and one Finding per broken
// rule. Findings name the file, the capabilities and the rule, and carry
// what fixes them as data (Remedy), which the caller words in its own
// language (Result.Word): the package names no flag. Result.WriteText, Result.WriteJSON and Result.WriteSARIF render it.
//
// The rules (see Rules):
//
//   - capability-not-allowed (error): a visible file has a capability that is
//     not in the allowlist. Fix: drop it, or allow it.
//   - dangerous-capability (error): a visible file has a capability from the
//     built-in Dangerous list and no justification for it. Fix: drop it, or
//     justify it.
//   - too-many-capabilities (error): a visible file has more than MaxCaps
//     capabilities and some of them are not justified.
//   - invalid-capability (error): the security.capability value cannot be
//     decoded; Linux refuses such values.
//   - namespaced-capability (warning): a revision 3 value with a non-zero
//     root uid, which the kernel ignores outside one user namespace.
//   - shadowed-capability (note): a file whose capabilities a later layer
//     replaced or deleted. It never reaches the container's filesystem, so it
//     is reported but not checked against the other rules.
//   - unverified-capabilities (error): an image's files were taken from its
//     own io.capslayer.capabilities label, its layers not read
//     (inspect.Image.LabelOnly): a result resting on a claim nothing
//     verified never passes.
//
// The profiles, the dangerous list and their sources are documented in
// docs/policy.md.
package policy
