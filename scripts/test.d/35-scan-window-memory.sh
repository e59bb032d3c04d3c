#!/usr/bin/env bash
# Patterns across records keep bounded memory (issue 14 item 5): JSON-lines logs of 100 MB and
# of 1 GB, generated on the fly and streamed through `detente scan -` (nothing written to disk),
# with two `WITHIN 300 SECONDS` patterns whose first bracket selects every 10th record (its
# window overflows the 10,000-record bound: a warning) and every 100th record (its window holds
# 300 s of them). The peak RSS of the 1 GB scan must stay within 128 MB of the 100 MB scan's
# (what varies is how many 1 MiB pieces are in flight; keeping the 1.1 million selected records
# of the 1 GB log would take over 1 GB), and the closing record must complete both patterns,
# each hit naming its two records.
#   scripts/test.d/35-scan-window-memory.sh            # 100 MB and 1 GB
#   GB=0.2 scripts/test.d/35-scan-window-memory.sh     # a smaller second log
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-release -p detente >/dev/null
bin=target/release/detente
work=$(mktemp -d /tmp/detente-window-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT
indicator() { # id, pattern
  printf '{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","valid_from":"2024-01-01T00:00:00Z","pattern_type":"stix","pattern":"%s"}' "$1" "$2"
}
{
  printf '{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":['
  indicator 1 "([ipv4-addr:value = '198.51.100.7'] FOLLOWEDBY [domain-name:value = 'exfil.example']) WITHIN 300 SECONDS"
  printf ','
  indicator 2 "([ipv4-addr:value = '198.51.100.8'] FOLLOWEDBY [domain-name:value = 'exfil.example']) WITHIN 300 SECONDS"
  printf ']}\n'
} > "$work/ind.json"

# About 100 bytes a record, one a millisecond; every 10th goes to .7, every 100th to .8; the
# last one queries exfil.example.
stream() { # bytes
  awk -v n="$(($1 / 100))" 'BEGIN {
    for (i = 0; i < n; i++) {
      dst = (i % 100 == 50) ? "198.51.100.8" : (i % 10 == 3) ? "198.51.100.7" : sprintf("10.%d.%d.%d", i % 7, i % 251, i % 13)
      q = (i == n - 1) ? "exfil.example" : sprintf("h%d.example.net", i % 9973)
      printf "{\"ts\":%.3f,\"src\":\"192.0.2.%d\",\"dst\":\"%s\",\"query\":\"%s\",\"n\":%d}\n", 1700000000 + i / 1000, i % 200, dst, q, i
    }
  }'
}

scan() { # bytes, name: prints the peak RSS in KiB
  set +e
  stream "$1" | /usr/bin/time -f '%M' -o "$work/$2.rss" "$bin" scan --format jsonl \
    --indicators "$work/ind.json" --output "$work/$2.ndjson" - 2>"$work/$2.stderr"
  local rc=$?
  set -e
  if [ "$rc" != 1 ]; then
    echo "35-scan-window-memory: scan of $1 bytes exited $rc (want 1: the overflow warning)" >&2
    cat "$work/$2.stderr" >&2
    exit 1
  fi
  grep -q "records within its window; the .* oldest were dropped" "$work/$2.stderr"
  python3 - "$work/$2.ndjson" <<'EOF'
import json, sys
hits = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(h["indicator_id"][-1] for h in hits) == ["1", "2"], hits
for h in hits:
    assert h["kind"] == "pattern" and h["observed"] == "exfil.example", h
    assert len(h["records"]) == 2 and h["records"][1]["line"] == h["line"], h
EOF
  # GNU time writes "Command exited with non-zero status 1" first.
  tail -n 1 "$work/$2.rss"
}

small=$(scan 100000000 small)
big_bytes=$(python3 -c "print(int(float('${GB:-1}') * 1e9))")
start=$(date +%s)
big=$(scan "$big_bytes" big)
echo "35-scan-window-memory: peak RSS $((small / 1024)) MB over 100 MB, $((big / 1024)) MB over $big_bytes bytes ($(($(date +%s) - start)) s; load $(cut -d' ' -f1-3 /proc/loadavg))"
grep '^detente scan: 1 logs' "$work/big.stderr"
if [ "$big" -gt $((small + 131072)) ]; then
  echo "35-scan-window-memory: peak RSS grew with the log: $small KiB -> $big KiB" >&2
  exit 1
fi
echo "35-scan-window-memory: ok"
