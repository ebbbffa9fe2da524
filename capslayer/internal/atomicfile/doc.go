// Package atomicfile writes output files and directories so that a reader
// sees the old output, the complete new one, or nothing, never a partial
// one, even when the writer is killed or several writers race for the same
// output. It is the one atomic-output helper of capslayer's writers (layer,
// image, audit --sarif).
//
// An output is written to a temporary file beside its target and renamed
// over it at the end. The guarantees:
//
//   - Naming. The temporary file of target DIR/NAME is DIR/.NAME.tmp-DIGITS
//     (a directory also DIR/.NAME.tmp-DIGITS.old while it replaces the old
//     one). Nothing else is ever removed.
//   - Exclusion. While an output is written, the writer holds an exclusive
//     flock(2) on DIR/.NAME.lock. A second writer of the same target waits
//     for the first to finish, so concurrent runs never mix their outputs.
//     The lock file is removed when the writer is done (a waiting writer
//     notices and locks the new one; see lock_unix.go).
//   - Cleanup after a kill. Holding the lock, a writer first removes every
//     DIR/.NAME.tmp-DIGITS[.old] left by an earlier writer of the same
//     target that was killed (SIGKILL, power loss): no live writer can own
//     them, since a live writer would hold the lock. HandleSignals makes
//     SIGINT, SIGTERM and SIGHUP remove the temporary files before the
//     process dies.
//   - Pairs. CreatePair writes two outputs that belong together (a layer
//     and its descriptor). Commit removes the old second output, renames
//     the first, then the second: at every instant the second output is
//     either absent or matches the first.
//
// On Windows, which has no flock(2), outputs are not locked (concurrent
// writers of one target may interleave) and leftovers are removed only when
// they are not open.
package atomicfile
