#!/usr/bin/env bash
# Memory of the detente node while one collection grows to N objects (server-side ingest with
# wrk + bench/ingest.lua, envelopes of 1000 new indicators) and while a client pages through
# all of it (limit=1000, following `next`). After every ingest step and during paging it
# samples /proc/PID/smaps_rollup: Rss, Anonymous (heap, stacks: what must stay flat) and
# Pss_File (the SQLite memory map, counted once however many connections map the file;
# clean page cache the kernel may drop at will). Rss counts a page once per mapping, so it
# exceeds the database size when several reader connections map the same pages.
# The data directory is kept in target/bench-taxii-memory/data for bench/taxii-byid.sh.
# Usage: bench/taxii-memory.sh [N=1000000] [SECONDS_PER_STEP=6]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
STEP_S=${2:-6}
OUT=target/bench-taxii-memory
rm -rf "$OUT" && mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p detente
BIN=target/release/detente
PY=python3
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data "$OUT/data" --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
SAMPLER=
trap 'kill $SAMPLER 2>/dev/null || true; kill $PID 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
SECRET=$(cut -d: -f2 "$OUT/data/admin.credentials")
COLL=$("$BIN" collection add --title bench --data "$OUT/data" 2>/dev/null | tail -1)
AUTH=$(printf 'admin:%s' "$SECRET" | base64 -w0)
URL="http://127.0.0.1:$PORT/api/collections/$COLL/objects/"

# "rss anon file" in MiB
mem() {
  awk '/^Rss:/ {r=$2} /^Anonymous:/ {a=$2} /^Pss_File:/ {f=$2} END {printf "%.1f %.1f %.1f", r/1024, a/1024, f/1024}' \
    "/proc/$PID/smaps_rollup"
}
count() {
  $PY -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from objects").fetchone()[0])' \
    "$OUT/data/detente.sqlite"
}
row() {
  read -r rss anon file <<<"$(mem)"
  printf '%-10s %10s %9s %9s %9s %9s  %s\n' "$1" "$2" "$rss" "$anon" "$file" \
    "$(( $(stat -c %s "$OUT/data/detente.sqlite") / 1048576 ))" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "== growing the collection to $N objects (wrk, envelopes of 1000, ${STEP_S}s steps)"
printf '%-10s %10s %9s %9s %9s %9s  %s\n' phase objects "RSS MiB" "anon MiB" "file MiB" "DB MiB" "load avg"
row start 0
have=0
while [ "$have" -lt "$N" ]; do
  wrk -t1 -c2 -d"${STEP_S}s" -s bench/ingest.lua -H "Authorization: Basic $AUTH" "$URL" -- 1000 \
    >>"$OUT/wrk-ingest.log" 2>&1
  have=$(count)
  row ingest "$have"
done
grep 'objects/s' "$OUT/wrk-ingest.log" | awk '{s+=$2; n++} END {printf "ingest: mean of %d steps %.0f objects/s\n", n, s/n}'

echo "== paging through all $have objects (limit=1000, following next), sampling every 0.5 s"
( while kill -0 $PID 2>/dev/null; do echo "$(mem)" >>"$OUT/paging-mem.txt"; sleep 0.5; done ) &
SAMPLER=$!
$PY - "$URL" "$AUTH" <<'PY'
import http.client, json, sys, time, urllib.parse
url, auth = sys.argv[1], sys.argv[2]
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
headers = {"Authorization": "Basic " + auth, "Accept": "application/taxii+json;version=2.1"}
seen = pages = 0
nxt = None
t0 = time.monotonic()
while True:
    q = "limit=1000" + ("&next=" + urllib.parse.quote(nxt) if nxt else "")
    conn.request("GET", u.path + "?" + q, headers=headers)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"page {pages}: HTTP {r.status}: {body[:200]!r}")
    env = json.loads(body)
    seen += len(env.get("objects", []))
    pages += 1
    nxt = env.get("next")
    if not env.get("more"):
        break
dt = time.monotonic() - t0
print(f"paged {seen} objects in {pages} pages, {dt:.1f} s, {seen / dt:.0f} objects/s (Python client)")
PY
kill $SAMPLER 2>/dev/null || true
wait $SAMPLER 2>/dev/null || true
SAMPLER=
awk '{if (NR==1 || $2>ma) ma=$2; if (NR==1 || $2<mi) mi=$2; if ($1>mr) mr=$1; if ($3>mf) mf=$3}
     END {printf "paging: %d samples, anon MiB min %.1f max %.1f, RSS max %.1f, file-backed max %.1f\n", NR, mi, ma, mr, mf}' \
  "$OUT/paging-mem.txt"
row paged "$have"
