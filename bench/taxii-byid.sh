#!/usr/bin/env bash
# By-id GET latency with wrk on loopback against a node holding a large collection: the data
# directory left by bench/taxii-memory.sh (1,000,000+ objects), ids drawn at random from
# 100,000 stored ones (bench/byid.lua), 4 and 16 connections, wrk's --latency percentiles.
# Usage: bench/taxii-byid.sh [DATA_DIR=target/bench-taxii-memory/data] [SECONDS=15]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-target/bench-taxii-memory/data}
SECS=${2:-15}
OUT=target/bench-taxii-byid
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -f "$DATA/detente.sqlite" ] || { echo "no store in $DATA: run bench/taxii-memory.sh first" >&2; exit 1; }
cargo build --release --locked -p detente
BIN=target/release/detente
PY=python3
read -r COLL TOTAL <<<"$($PY - "$DATA/detente.sqlite" "$OUT/ids.txt" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
coll, n = db.execute("select c.id, count(*) from objects o join collections c on c.coll = o.coll "
                     "group by o.coll order by count(*) desc limit 1").fetchone()
with open(sys.argv[2], "w") as f:
    for (i,) in db.execute("select object_id from objects order by random() limit 100000"):
        f.write(i + "\n")
print(coll, n)
PY
)"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
AUTH=$(printf 'admin:%s' "$(cut -d: -f2 "$DATA/admin.credentials")" | base64 -w0)
URL="http://127.0.0.1:$PORT/api/collections/$COLL/objects/"
# Warm the page cache / memory map the way a running node would be.
wrk -t1 -c4 -d3s -s bench/byid.lua -H "Authorization: Basic $AUTH" "$URL" -- "$OUT/ids.txt" >/dev/null
for c in 4 16; do
  t=$(( c < 2 ? 1 : 2 ))
  echo "== by-id GET, $TOTAL objects stored, $c connections, ${SECS}s, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t"$t" -c"$c" -d"${SECS}s" --latency -s bench/byid.lua -H "Authorization: Basic $AUTH" \
    "$URL" -- "$OUT/ids.txt" | grep -E 'Latency|Req/Sec|50%|75%|90%|99%|Requests/sec|requests in|Non-2xx'
done
echo "load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"
