#!/usr/bin/env bash
# Runs ../shared/bench/taxii/taxii_bench.py against detente and medallion 3.0.0 (the OASIS
# reference server, from PyPI, in target/bench-venv) with the same workload, then prints
# both side by side. medallion slows quadratically, so keep N small (default 2000).
# Usage: bench/taxii-compare.sh [N] [BATCH]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
BATCH=${2:-500}
OUT=target/bench-taxii-compare
rm -rf "$OUT" && mkdir -p "$OUT"
if [ ! -x target/bench-venv/bin/medallion ]; then
  python3 -m venv target/bench-venv
  target/bench-venv/bin/pip install -q medallion==3.0.0 requests
fi
cargo build --release --locked -p detente
PY=target/bench-venv/bin/python
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
COMMON=(--n "$N" --batch "$BATCH" --page-limit 100 --requests 300 --query-limit 100 --seed 7 --phase-budget 300)

# detente
DPORT=$(port)
target/release/detente serve --data "$OUT/detente" --listen "127.0.0.1:$DPORT" >"$OUT/detente.out" 2>"$OUT/detente.err" &
PIDS+=($!)
wait_up "http://127.0.0.1:$DPORT/healthz"
DSECRET=$(cut -d: -f2 "$OUT/detente/admin.credentials")
DCOLL=$(target/release/detente collection add --title bench --data "$OUT/detente" 2>/dev/null | tail -1)
$PY ../shared/bench/taxii/taxii_bench.py --base-url "http://127.0.0.1:$DPORT" --api-root /api/ \
  --collection "$DCOLL" --user admin --password "$DSECRET" "${COMMON[@]}" --json-out "$OUT/detente.json" >/dev/null 2>"$OUT/detente-bench.log" || true

# medallion (memory backend)
MCOLL=9b2a5c1e-0a4f-4b1e-8d55-0e2f6b7c1a01
cat >"$OUT/medallion-data.json" <<JSON
{"/discovery": {"title": "medallion", "default": "http://127.0.0.1:PORT/api1/", "api_roots": ["http://127.0.0.1:PORT/api1/"]},
 "api1": {"information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 104857600},
          "status": [],
          "collections": [{"id": "$MCOLL", "title": "bench", "can_read": true, "can_write": true,
                           "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]}}
JSON
MPORT=$(port)
sed -i "s/PORT/$MPORT/g" "$OUT/medallion-data.json"
cat >"$OUT/medallion.json" <<JSON
{"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend", "filename": "$OUT/medallion-data.json"},
 "users": {"admin": "Password0"}, "taxii": {"max_page_size": 100}}
JSON
target/bench-venv/bin/medallion --host 127.0.0.1 --port "$MPORT" "$OUT/medallion.json" >"$OUT/medallion.log" 2>&1 &
PIDS+=($!)
wait_up "http://127.0.0.1:$MPORT/taxii2/"
$PY ../shared/bench/taxii/taxii_bench.py --base-url "http://127.0.0.1:$MPORT" --api-root /api1/ \
  --collection "$MCOLL" --user admin --password Password0 "${COMMON[@]}" --json-out "$OUT/medallion.json.out" >/dev/null 2>"$OUT/medallion-bench.log" || true

$PY - "$OUT/detente.json" "$OUT/medallion.json.out" <<'PY'
import json, sys
d, m = (json.load(open(p)) for p in sys.argv[1:3])
def row(name, f):
    def g(r):
        try:
            return f(r)
        except (KeyError, TypeError):
            return "-"
    print(f"{name:42} {g(d)!s:>14} {g(m)!s:>14}")
print(f"{'N=' + str(d['n']) + ' batch=' + str(d['batch']):42} {'detente':>14} {'medallion':>14}")
row("POST objects/s (until status complete)", lambda r: r["post"]["objects_per_s"])
row("GET all pages objects/s", lambda r: r["get_all"]["objects_per_s"])
row("match[type] limit=100 req/s", lambda r: r["query"]["match_type_indicator_limit100"]["req_per_s"])
row("match[type] p99 ms", lambda r: r["query"]["match_type_indicator_limit100"]["p99_ms"])
row("by-id GET req/s", lambda r: r["query"]["object_by_id"]["req_per_s"])
row("by-id GET p99 ms", lambda r: r["query"]["object_by_id"]["p99_ms"])
PY
