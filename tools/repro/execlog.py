#!/usr/bin/env python3
"""Reads Bazel execution logs (--execution_log_json_file) and checks them.

    execlog.py summary LOG
        one line per mnemonic: spawns, by runner, remote cache hits
    execlog.py all-hits LOG [--require M1,M2,...]
        every spawn was a remote cache hit, and each required mnemonic has at
        least one spawn
    execlog.py none LOG [--mnemonic M]
        no spawn ran at all (or none of mnemonic M)
    execlog.py some LOG --mnemonic M
        at least one spawn of mnemonic M ran
    execlog.py runner LOG --mnemonic M --runner R
        every spawn of mnemonic M (at least one) ran with runner R
    execlog.py hermetic LOG --mnemonic M --forbid PATH[:PATH...] [--allow-host PROG]
        every spawn of mnemonic M (at least one) runs a tool from the build
        (a relative path, not a host program; PROG is tolerated, e.g. the
        shell of a run_shell action), with an empty environment, and no
        argument, input or output mentions a forbidden path (the workspace,
        the output base: anything host-specific)
    execlog.py same-outputs LOG_A LOG_B [--tree-extras note]
        both logs have the same spawns (by mnemonic and declared outputs)
        and every output has the same digest in both; a file that only one
        side's tree artifact (directory output) holds is a difference too,
        or only a note with --tree-extras note

Exit status 0 when the check holds, 1 when it does not (the reason is
printed), 2 on bad usage or an unreadable log.

The log is a stream of SpawnExec JSON objects (Bazel 7), one per spawn that
Bazel executed or looked up in a cache; actions that spawn nothing (symlinks,
file writes: Bazel's "internal" processes) are not in it. Fields that are
false or empty may be left out, so a missing cacheHit means false.
"""

import collections
import json
import sys


def spawns(path):
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        print(f"execlog.py: {e}", file=sys.stderr)
        sys.exit(2)
    dec = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def hit(spawn):
    """Whether the spawn's result came from the remote cache.

    Bazel 7 writes cacheHit (older versions remoteCacheHit) and names the
    runner "remote cache hit"; a disk cache hit has cacheHit too, but
    another runner, and does not count here.
    """
    return bool(spawn.get("cacheHit", spawn.get("remoteCacheHit"))) and "remote" in spawn.get("runner", "remote")


def outputs(spawn):
    """{path: digest hash} of a spawn's actual outputs."""
    return {o["path"]: o.get("digest", {}).get("hash", "") for o in spawn.get("actualOutputs", [])}


def key(spawn):
    """A spawn's identity across builds: its mnemonic and declared outputs.

    Declared (listed) outputs, not actual ones: a tree artifact is one
    declared output but many actual files, which may differ.
    """
    paths = list(spawn.get("listedOutputs", [])) or [o["path"] for o in spawn.get("actualOutputs", [])]
    return (spawn.get("mnemonic", "?"), tuple(sorted(paths)))


def label(spawn):
    outs = [o["path"] for o in spawn.get("actualOutputs", [])] or spawn.get("listedOutputs", [])
    return f"{spawn.get('mnemonic', '?')} {spawn.get('targetLabel', '')} -> {', '.join(outs[:2])}{' ...' if len(outs) > 2 else ''}"


def summary(log):
    by = collections.defaultdict(lambda: [0, collections.Counter(), 0])
    for s in log:
        e = by[s.get("mnemonic", "?")]
        e[0] += 1
        e[1][s.get("runner", "?")] += 1
        e[2] += hit(s)
    total = len(log)
    hits = sum(e[2] for e in by.values())
    print(f"{total} spawns, {hits} remote cache hits")
    for m in sorted(by):
        n, runners, h = by[m]
        rs = ", ".join(f"{r} {c}" for r, c in sorted(runners.items()))
        print(f"  {m:28} {n:4}  hits {h:4}  runners: {rs}")
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    cmd = argv[1]
    opts = {}
    args = []
    rest = argv[2:]
    while rest:
        a = rest.pop(0)
        if a.startswith("--"):
            if not rest:
                print(f"execlog.py: {a} needs a value", file=sys.stderr)
                return 2
            opts[a[2:]] = rest.pop(0)
        else:
            args.append(a)

    if cmd == "summary" and len(args) == 1:
        return summary(spawns(args[0]))

    if cmd == "all-hits" and len(args) == 1:
        log = spawns(args[0])
        misses = [s for s in log if not hit(s)]
        for s in misses:
            print(f"not a remote cache hit ({s.get('runner', '?')}): {label(s)}")
        required = [m for m in opts.get("require", "").split(",") if m]
        seen = {s.get("mnemonic") for s in log}
        missing = [m for m in required if m not in seen]
        for m in missing:
            print(f"no {m} spawn in the log: the check would prove nothing for it")
        if not log:
            print("the log has no spawns")
        if misses or missing or not log:
            return 1
        print(f"all {len(log)} spawns were remote cache hits ({', '.join(required)} included)")
        return 0

    if cmd == "none" and len(args) == 1:
        m = opts.get("mnemonic")
        ran = [s for s in spawns(args[0]) if m is None or s.get("mnemonic") == m]
        for s in ran:
            print(f"ran: {label(s)} ({s.get('runner', '?')})")
        if ran:
            return 1
        print(f"no {m + ' ' if m else ''}spawn ran")
        return 0

    if cmd == "some" and len(args) == 1 and "mnemonic" in opts:
        m = opts["mnemonic"]
        ran = [s for s in spawns(args[0]) if s.get("mnemonic") == m]
        if not ran:
            print(f"no {m} spawn ran")
            return 1
        print(f"{len(ran)} {m} spawn(s) ran")
        return 0

    if cmd == "runner" and len(args) == 1 and "mnemonic" in opts and "runner" in opts:
        m, r = opts["mnemonic"], opts["runner"]
        ran = [s for s in spawns(args[0]) if s.get("mnemonic") == m]
        bad = [s for s in ran if s.get("runner") != r]
        for s in bad:
            print(f"{label(s)} ran with {s.get('runner', '?')}, not {r}")
        if not ran:
            print(f"no {m} spawn ran")
        if bad or not ran:
            return 1
        print(f"all {len(ran)} {m} spawns ran with {r}")
        return 0

    if cmd == "hermetic" and len(args) == 1 and "mnemonic" in opts and "forbid" in opts:
        m = opts["mnemonic"]
        forbid = [p for p in opts["forbid"].split(":") if p]
        allowed = opts.get("allow-host")
        host_used = set()
        ran = [s for s in spawns(args[0]) if s.get("mnemonic") == m]
        bad = []
        for s in ran:
            argv0 = (s.get("commandArgs") or ["?"])[0]
            if argv0 == allowed:
                host_used.add(argv0)
            elif argv0.startswith("/"):
                bad.append(f"{label(s)}: runs the host program {argv0}, not a tool built or fetched by Bazel")
            env = {e.get("name"): e.get("value") for e in s.get("environmentVariables", [])}
            if env:
                bad.append(f"{label(s)}: has environment variables {sorted(env)}")
            strings = list(s.get("commandArgs", [])) + [i.get("path", "") for i in s.get("inputs", [])] + \
                [o.get("path", "") for o in s.get("actualOutputs", [])]
            for text in strings:
                for p in forbid:
                    if p in text:
                        bad.append(f"{label(s)}: mentions {p}: {text}")
        for b in bad:
            print(b)
        if not ran:
            print(f"no {m} spawn in the log")
        if bad or not ran:
            return 1
        how = f"through {', '.join(sorted(host_used))}" if host_used else "a Bazel-built tool"
        print(f"all {len(ran)} {m} spawns run {how}, with no environment and no host path")
        return 0

    if cmd == "same-outputs" and len(args) == 2:
        a, b = spawns(args[0]), spawns(args[1])
        ka = {key(s): s for s in a}
        kb = {key(s): s for s in b}
        bad = 0
        for k in sorted(set(ka) - set(kb)):
            print(f"only in {args[0]}: {k[0]} {', '.join(k[1][:2])}")
            bad += 1
        for k in sorted(set(kb) - set(ka)):
            print(f"only in {args[1]}: {k[0]} {', '.join(k[1][:2])}")
            bad += 1
        n = 0
        notes = 0
        note_only = opts.get("tree-extras") == "note"
        for k in sorted(set(ka) & set(kb)):
            oa, ob = outputs(ka[k]), outputs(kb[k])
            for p in sorted(oa):
                if p not in ob:
                    continue
                n += 1
                if oa[p] != ob[p]:
                    print(f"{p}: digest {oa[p]} vs {ob[p]} ({k[0]})")
                    bad += 1
            for side, only in ((args[0], set(oa) - set(ob)), (args[1], set(ob) - set(oa))):
                if not only:
                    continue
                where = ", ".join(sorted(only)[:3]) + (" ..." if len(only) > 3 else "")
                print(f"{'note: ' if note_only else ''}{len(only)} file(s) of {k[0]} outputs only in {side}: {where}")
                if note_only:
                    notes += 1
                else:
                    bad += 1
        if bad:
            return 1
        extra = f"; {notes} tree output(s) with extra files on one side (notes above)" if notes else ""
        print(f"same {len(ka)} spawns in both logs, {n} outputs with identical digests{extra}")
        return 0

    print(f"execlog.py: bad usage: {' '.join(argv[1:])}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
