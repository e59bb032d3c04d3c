#!/usr/bin/env bash
# Benchmarks the detente node with bench/taxii_load.py (ingest, paging,
# match[type] and by-id queries) and, when installed, `oha` for by-id GET latency.
# Usage: bench/taxii.sh [N_OBJECTS] [BATCH]   (workload and results go under target/bench-taxii/)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
BATCH=${2:-1000}
PHASES=${3:-post,get,query}
OUT=target/bench-taxii
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release --locked -p detente
BIN=target/release/detente
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data "$OUT/data" --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
SECRET=$(cut -d: -f2 "$OUT/data/admin.credentials")
COLL=$("$BIN" collection add --title bench --data "$OUT/data" 2>/dev/null | tail -1)
.venv/bin/python bench/taxii_load.py --base-url "http://127.0.0.1:$PORT" \
  --api-root /api/ --collection "$COLL" --user admin --password "$SECRET" \
  --n "$N" --batch "$BATCH" --page-limit 1000 --requests 1000 --phases "$PHASES" --json-out "$OUT/result.json"
if command -v wrk >/dev/null; then
  ID=$(curl -s -u "admin:$SECRET" -H 'Accept: application/taxii+json;version=2.1' \
    "http://127.0.0.1:$PORT/api/collections/$COLL/objects/?limit=1&added_after=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)" \
    | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["id"])')
  AUTH=$(printf 'admin:%s' "$SECRET" | base64 -w0)
  echo "== wrk: GET objects/$ID/ (by id) with $(sqlite3 "$OUT/data/detente.sqlite" 'select count(*) from objects' 2>/dev/null || echo '?') objects stored"
  wrk -t2 -c16 -d10s --latency -H "Authorization: Basic $AUTH" \
    -H 'Accept: application/taxii+json;version=2.1' \
    "http://127.0.0.1:$PORT/api/collections/$COLL/objects/$ID/"
  echo "== wrk: POST envelopes of 1000 new indicators (durable ingest, server side)"
  wrk -t1 -c2 -d10s -s bench/ingest.lua -H "Authorization: Basic $AUTH" \
    "http://127.0.0.1:$PORT/api/collections/$COLL/objects/" -- 1000
  echo "== wrk: GET objects/?limit=1000 (first page)"
  wrk -t2 -c8 -d10s --latency -H "Authorization: Basic $AUTH" \
    -H 'Accept: application/taxii+json;version=2.1' \
    "http://127.0.0.1:$PORT/api/collections/$COLL/objects/?limit=1000"
fi
