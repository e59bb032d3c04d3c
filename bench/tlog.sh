#!/usr/bin/env bash
# Transparency log benchmarks (issue 3 targets: >= 50,000 entries/s sequenced, >= 20,000 proof
# requests/s, ~32 bytes of hash storage per entry plus the entry):
#  1. durable sequencing throughput: crates/detente-sequencer/examples/throughput.rs on N entries;
#  2. proof serving on loopback with wrk against a real node holding M objects pushed over
#     TAXII: public consistency proofs (random old size) and authenticated receipts (random
#     object), 2 wrk threads, 16 connections.
# Usage: bench/tlog.sh [N=1000000] [M=100000] [SECONDS=10]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
M=${2:-100000}
SECS=${3:-10}
OUT=target/bench-tlog
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -q -p detente
cargo build --release --locked -q -p detente-sequencer --example throughput
echo "== sequencing, $N entries, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/examples/throughput "$N" "$OUT/seq"
du -b "$OUT/seq/detente.sqlite"* | awk '{s+=$1} END {printf "SQLite store (objects, log leaves, nonces): %d bytes\n", s}'
rm -rf "$OUT/seq"

D=$OUT/node
rm -rf "$D"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
target/release/detente serve --data "$D" --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
COLL=$(target/release/detente collection add --data "$D" --title bench | tail -1)
python3 - "$OUT/bundle.json" "$OUT/ids.txt" "$M" <<'PY'
import json, sys, uuid
path, ids, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
objs = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "pattern": f"[ipv4-addr:value = '10.{i >> 16}.{(i >> 8) & 255}.{i & 255}']",
         "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"} for i in range(n)]
json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}, open(path, "w"))
open(ids, "w").write("".join(o["id"] + "\n" for o in objs))
PY
target/release/detente push --url "$URL/" --collection "$COLL" --credentials "$D/admin.credentials" "$OUT/bundle.json"
for _ in $(seq 100); do
  [ "$(curl -sf "$URL/log/checkpoint" | sed -n 2p)" = "$M" ] && break
  sleep 0.2
done
SIZE=$(curl -sf "$URL/log/checkpoint" | sed -n 2p)
AUTH=$(tr -d "\n" <"$D/admin.credentials" | base64 -w0)
wrk -t1 -c4 -d2s -s bench/proofs.lua "$URL" -- consistency "$SIZE" >/dev/null
for mode in consistency receipt; do
  if [ $mode = consistency ]; then extra=("$SIZE"); hdr=(); else extra=("$COLL" "$OUT/ids.txt"); hdr=(-H "Authorization: Basic $AUTH"); fi
  echo "== $mode proofs, log size $SIZE, 16 connections, ${SECS}s, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t2 -c16 -d"${SECS}s" --latency "${hdr[@]}" -s bench/proofs.lua "$URL" -- "$mode" "${extra[@]}" \
    | grep -E 'Latency|50%|99%|Requests/sec|requests in|Non-2xx'
done
echo "load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"
