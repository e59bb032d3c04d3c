#!/usr/bin/env python3
"""Compares detente scan NDJSON hits with bench/gen/scan_workload.py's truth.tsv.

Compared on (file, line, indicator).

Usage: compare_truth.py TRUTH.tsv HITS.ndjson [--no-scheme]   (exit 0 only on exact agreement)
--no-scheme compares URL indicators without their scheme (Zeek intel files write them so).
Also checks that every hit line has exactly the contract fields, in order (the optional ones
only when present; see docs/detection.md).
"""
import json
import os
import sys

FIELDS = ["file", "line", "field", "observed", "indicator", "indicator_id", "kind", "action", "score"]
OPTIONAL = ["contributors", "allowlist"]
KINDS = {"ipv4", "ipv6", "cidr", "domain", "subdomain", "url", "md5", "sha1", "sha256", "email", "pattern"}

def key(indicator):
    if "--no-scheme" in sys.argv[3:] and "://" in indicator:
        return indicator.split("://", 1)[1]
    return indicator


truth = []
with open(sys.argv[1]) as f:
    next(f)
    for line in f:
        file, line_no, _kind, indicator, _value = line.rstrip("\n").split("\t")
        truth.append((file, int(line_no), key(indicator)))
got = []
with open(sys.argv[2]) as f:
    for raw in f:
        h = json.loads(raw)
        if list(h.keys()) != FIELDS + [k for k in OPTIONAL if k in h]:
            sys.exit("bad hit fields: %s" % list(h.keys()))
        if h["kind"] not in KINDS or h["action"] not in ("alert", "inform"):
            sys.exit("bad kind/action: %s" % raw)
        got.append((os.path.basename(h["file"]), h["line"], key(h["indicator"])))
missing = sorted(set(truth) - set(got))
extra = sorted(set(got) - set(truth))
dups = len(got) - len(set(got))
print("truth %d rows, detente %d hits, missing %d, extra %d, duplicates %d" % (len(truth), len(got), len(missing), len(extra), dups))
for m in missing[:10]:
    print("missing", m)
for e in extra[:10]:
    print("extra", e)
sys.exit(1 if missing or extra or dups or not truth else 0)
