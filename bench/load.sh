#!/usr/bin/env bash
# A mixed load on loopback against a fresh node: three members at once, each with its own
# wrk, for DURATION seconds:
#   alice  by-id GETs of random stored indicators (bench/byid.lua, 4 connections)
#   bob    pages of `objects/?limit=100` (2 connections)
#   carol  POSTs of envelopes of 10 new indicators (bench/ingest.lua, 2 connections)
# and the node's memory every 10 s: VmRSS, VmHWM, and RssAnon (heap and stacks; the rest of
# RSS is SQLite's memory map of the database, clean page cache). Prints per-member requests, errors (socket
# errors and non-2xx) and p50/p99, then the RSS series; everything is kept in target/bench-load.
# Usage: bench/load.sh [DURATION_SECONDS=600] [SEED_OBJECTS=20000]
# DETENTE_BIN=path runs that binary instead of building target/release/detente (before/after
# comparisons of one change).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
SEED=${2:-20000}
OUT=target/bench-load
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
BIN=${DETENTE_BIN:-target/release/detente}
[ -n "${DETENTE_BIN:-}" ] || cargo build --release --locked -p detente
rm -rf "$OUT" && mkdir -p "$OUT"
DATA=$OUT/data
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
COLL=$("$BIN" collection add --title load --data "$DATA" 2>/dev/null | tail -1)
declare -A AUTH
for m in alice bob carol; do
  secret=$("$BIN" member add "$m" --role contributor --tlp amber --data "$DATA" 2>/dev/null | tail -1)
  "$BIN" collection grant "$COLL" "$m" read-write --data "$DATA" 2>/dev/null
  AUTH[$m]=$(printf '%s:%s' "$m" "$secret" | base64 -w0)
done
URL="http://127.0.0.1:$PORT/api/collections/$COLL/objects/"
# Seed the collection (as carol) and keep the ids alice will fetch.
python3 - "$URL" "${AUTH[carol]}" "$SEED" "$OUT/ids.txt" <<'PY'
import json, sys, urllib.request, uuid
url, auth, n, ids_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ids = []
for start in range(0, n, 1000):
    objs = []
    for i in range(start, min(n, start + 1000)):
        oid = f"indicator--{uuid.uuid4()}"
        ids.append(oid)
        objs.append({"type": "indicator", "spec_version": "2.1", "id": oid,
                     "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                     "name": f"seed {i}", "pattern": f"[ipv4-addr:value = '10.{i % 250}.{i // 250 % 250}.1']",
                     "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"})
    req = urllib.request.Request(url, data=json.dumps({"objects": objs}).encode(), method="POST", headers={
        "Authorization": f"Basic {auth}", "Accept": "application/taxii+json;version=2.1",
        "Content-Type": "application/taxii+json;version=2.1"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 202, r.status
open(ids_file, "w").write("\n".join(ids) + "\n")
PY
echo "== $SEED objects seeded; ${SECS}s of mixed load; load avg $(cut -d' ' -f1-3 /proc/loadavg)"
(
  echo "seconds,vmrss_kb,vmhwm_kb,rssanon_kb,loadavg1"
  t0=$(date +%s)
  while kill -0 $PID 2>/dev/null; do
    rss=$(awk '/^VmRSS/{print $2}' /proc/$PID/status)
    hwm=$(awk '/^VmHWM/{print $2}' /proc/$PID/status)
    anon=$(awk '/^RssAnon/{print $2}' /proc/$PID/status)
    echo "$(( $(date +%s) - t0 )),$rss,$hwm,$anon,$(cut -d' ' -f1 /proc/loadavg)"
    sleep 10
  done
) >"$OUT/rss.csv" &
SAMPLER=$!
wrk -t2 -c4 -d"${SECS}s" --latency -s bench/byid.lua -H "Authorization: Basic ${AUTH[alice]}" \
  "$URL" -- "$OUT/ids.txt" >"$OUT/alice-byid.txt" &
W1=$!
wrk -t1 -c2 -d"${SECS}s" --latency -H "Authorization: Basic ${AUTH[bob]}" \
  -H "Accept: application/taxii+json;version=2.1" "$URL?limit=100" >"$OUT/bob-pages.txt" &
W2=$!
wrk -t1 -c2 -d"${SECS}s" --latency -s bench/ingest.lua -H "Authorization: Basic ${AUTH[carol]}" \
  "$URL" -- 10 >"$OUT/carol-posts.txt" &
W3=$!
wait $W1 $W2 $W3
kill $SAMPLER 2>/dev/null || true
for f in alice-byid bob-pages carol-posts; do
  echo "-- $f"
  grep -E 'requests in|Socket errors|Non-2xx|^ +50%|^ +99%|Requests/sec' "$OUT/$f.txt" || true
  grep -qE 'Socket errors|Non-2xx' "$OUT/$f.txt" || echo "  errors: none (no socket errors, no non-2xx)"
done
echo "-- node RSS (kB) every 10 s: $OUT/rss.csv"
cat "$OUT/rss.csv"
echo "load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"
