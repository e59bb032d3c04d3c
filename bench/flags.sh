#!/usr/bin/env bash
# Cost of flagging at ingest (docs/assets.md): bench/taxii_load.py's post phase (N indicators
# in envelopes of BATCH, each POST durable before its reply) against three fresh nodes:
#   none      nothing configured;
#   lists     every MISP warninglist in testdata/ node-wide and 1,000 protected domains and
#             1,000 ranges the workload does not touch (its example.com/example.org names are
#             on the Tranco and Cisco top lists, so about a fifth is flagged);
#   flagging  the same, plus example.net protected: about a third of the workload (its
#             example.net domains and URLs) is flagged, one note written per such indicator.
# Also times the first POST after a configuration change (the matchers are rebuilt then).
# Usage: bench/flags.sh [N=20000] [BATCH=1000]   (data and results under target/bench-flags/)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
BATCH=${2:-1000}
OUT=target/bench-flags
PY=${PYTHON:-.venv/bin/python}
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release --locked -p detente
BIN=target/release/detente
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null || true' EXIT
for i in $(seq 1000); do
  printf 'domain office-%d.election.example\ncidr 10.%d.%d.0/24\n' "$i" $((i / 256)) $((i % 256))
done >"$OUT/assets.txt"
for mode in none lists flagging; do
  DATA="$OUT/$mode"
  PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" >"$OUT/$mode.out" 2>"$OUT/$mode.err" &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  SECRET=$(cut -d: -f2 "$DATA/admin.credentials")
  COLL=$("$BIN" collection add --title bench --data "$DATA" 2>/dev/null | tail -1)
  if [ "$mode" != none ]; then
    "$BIN" warninglist add testdata/real/misp-warninglists/lists --data "$DATA" 2>/dev/null
    "$BIN" asset import "$OUT/assets.txt" --data "$DATA" 2>/dev/null
  fi
  [ "$mode" = flagging ] && "$BIN" asset add domain example.net --data "$DATA" 2>/dev/null
  # One POST of one indicator: with configuration, it rebuilds the matchers first.
  FIRST=$( { /usr/bin/time -f %e curl -s -o /dev/null -u "admin:$SECRET" \
    -H 'Accept: application/taxii+json;version=2.1' -H 'Content-Type: application/taxii+json;version=2.1' \
    -d '{"objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[domain-name:value = '"'"'first.example'"'"']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}]}' \
    "http://127.0.0.1:$PORT/api/collections/$COLL/objects/"; } 2>&1 )
  $PY bench/taxii_load.py --base-url "http://127.0.0.1:$PORT" --api-root /api/ --collection "$COLL" \
    --user admin --password "$SECRET" --n "$N" --batch "$BATCH" --phases post \
    --json-out "$OUT/$mode.json" >/dev/null
  NOTES=$(sqlite3 "$DATA/detente.sqlite" "select count(*) from objects where object_type = 'note'" 2>/dev/null || echo '?')
  RSS=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
  RATE=$($PY -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["post"]["objects_per_s"]))' "$OUT/$mode.json")
  printf '%-9s first POST %5ss  ingest %6s objects/s  notes %6s  peak RSS %s kB\n' "$mode" "$FIRST" "$RATE" "$NOTES" "$RSS"
  kill $PID; wait $PID 2>/dev/null || true; PID=
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
