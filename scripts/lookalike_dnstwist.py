#!/usr/bin/env python3
"""Recall of `detente lookalike` against dnstwist itself.

For each protected domain, dnstwist's Fuzzer (the PyPI package, used as a library: generating
permutations does no DNS lookups) lists its permutations with the fuzzer that made each; all are
fed to `detente lookalike --names`, and every permutation must be found for its protected domain
with a technique equal to dnstwist's fuzzer name. Permutations that are registered benign domains
(in the vendored top-domain lists) are left out and listed. Prints numbers per fuzzer; exits 1 when
a fuzzer falls below 100% other than through a listed exception.
"""
import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import dnstwist

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--detente", required=True)
    ap.add_argument("--protected", required=True)
    ap.add_argument("--words", required=True)
    ap.add_argument("--tlds", required=True)
    ap.add_argument("--benign", nargs="*", default=[])
    ap.add_argument("--show", type=int, default=10, help="misses to print per fuzzer")
    a = ap.parse_args()

    protected = [
        l.split("#")[0].strip()
        for l in Path(a.protected).read_text().splitlines()
        if l.split("#")[0].strip()
    ]
    words = [l.strip() for l in Path(a.words).read_text().splitlines() if l.strip()]
    tlds = [l.strip() for l in Path(a.tlds).read_text().splitlines() if l.strip()]
    benign = set()
    for b in a.benign:
        benign.update(x.lower().rstrip(".") for x in json.loads(Path(b).read_text())["list"])

    perms = []  # (protected, fuzzer, name)
    for d in protected:
        f = dnstwist.Fuzzer(d, dictionary=words, tld_dictionary=list(tlds))
        f.generate()
        for p in f.domains:
            if p["fuzzer"] != "*original" and p["domain"]:
                perms.append((d, p["fuzzer"], p["domain"]))
    perms.sort()
    # A permutation that is itself protected is the node's own domain, never a look-alike.
    protected_set = set(protected)

    with tempfile.TemporaryDirectory() as tmp:
        names = Path(tmp, "names.txt")
        out = Path(tmp, "found.ndjson")
        names.write_text("".join(f"{n}\n" for _, _, n in perms))
        r = subprocess.run(
            [a.detente, "lookalike", "--protected", a.protected, "--names", str(names),
             "--output", str(out)],
            stderr=subprocess.PIPE, text=True)
        if r.returncode not in (0, 1):
            sys.exit(f"detente lookalike failed ({r.returncode}): {r.stderr}")
        found = collections.defaultdict(dict)
        for line in out.read_text().splitlines():
            f = json.loads(line)
            found[f["line"]][f["protected"]] = f["technique"]

    stats = collections.defaultdict(collections.Counter)
    misses = collections.defaultdict(list)
    excluded = []
    for i, (d, fuzzer, name) in enumerate(perms, start=1):
        s = stats[fuzzer]
        if name in benign or name in protected_set:
            s["benign"] += 1
            excluded.append((d, fuzzer, name))
            continue
        s["total"] += 1
        got = found.get(i, {}).get(d)
        if got is not None:
            s["detected"] += 1
        if got == fuzzer:
            s["match"] += 1
            continue
        misses[fuzzer].append((d, name, got))

    print(f"{'fuzzer':<14}{'perms':>8}{'left out':>9}{'detected':>10}{'same name':>11}  recall")
    failed = False
    for fuzzer in sorted(stats):
        s = stats[fuzzer]
        ok = s["match"]
        pct = 100.0 * ok / s["total"] if s["total"] else 100.0
        print(f"{fuzzer:<14}{s['total']:>8}{s['benign']:>9}{s['detected']:>10}{s['match']:>11}  {pct:6.2f}%")
        if ok < s["total"]:
            failed = True
    tot = sum(s["total"] for s in stats.values())
    det = sum(s["detected"] for s in stats.values())
    mat = sum(s["match"] for s in stats.values())
    print(f"{'all':<14}{tot:>8}{len(excluded):>9}{det:>10}{mat:>11}")
    for d, fuzzer, name in excluded:
        why = "protected itself" if name in protected_set else "registered benign domain"
        print(f"left out ({why}): {name} ({fuzzer} of {d})")
    for fuzzer, ms in sorted(misses.items()):
        for d, name, got in ms[: a.show]:
            print(f"MISS: {fuzzer} {name} (of {d}) detected as {got}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
