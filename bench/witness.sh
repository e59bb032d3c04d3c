#!/usr/bin/env bash
# Witness benchmark (issue 12 target: >= 1,000 durable add-checkpoint requests/s across 50
# simulated logs on loopback, p99 < 20 ms): a real `detente serve` witnesses 50 logs; each log
# submits growing checkpoints with consistency proofs on its own connection, one at a time.
# Every 200 means the new state was committed to SQLite (WAL, synchronous=FULL) first.
# Two runs: peak (each log sends as soon as it is answered) and paced (RATE requests/s spread
# over the logs; p50/p99 from each request's scheduled time).
# Usage: bench/witness.sh [LOGS=50] [SECONDS=10] [RATE=1000]
# DETENTE_BIN=path runs that node binary instead of target/release/detente (before/after
# comparisons of one change).
set -euo pipefail
cd "$(dirname "$0")/.."
LOGS=${1:-50}
SECS=${2:-10}
RATE=${3:-1000}
OUT=target/bench-witness
BIN=${DETENTE_BIN:-target/release/detente}
[ -n "${DETENTE_BIN:-}" ] || cargo build --release --locked -q -p detente
cargo build --release --locked -q -p detente-server --example witness_load
LOAD=target/release/examples/witness_load
D=$OUT/node
rm -rf "$OUT"
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
RUST_LOG=warn "$BIN" serve --data "$D" --listen "127.0.0.1:$PORT" --origin bench.test/witness >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
"$LOAD" keys $((2 * LOGS)) 0 | while read -r k; do "$BIN" witness trust "$k" --data "$D" 2>/dev/null; done
echo "== peak: each log sends as soon as answered; $LOGS logs, ${SECS} s, $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOAD" run "$LOGS" 0 "$URL" "$SECS" $((SECS * 200))
echo "== paced: $RATE req/s over the $LOGS logs, latency from the scheduled send time, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOAD" run "$LOGS" "$LOGS" "$URL" "$SECS" $((SECS * 200)) "$RATE"
echo "load avg after $(cut -d' ' -f1-3 /proc/loadavg)"
# Durable writes wait for the disk: other processes' I/O shows up in p99.
[ -r /proc/pressure/io ] && echo "I/O pressure: $(head -1 /proc/pressure/io)"
