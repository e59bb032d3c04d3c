#!/usr/bin/env bash
# Initial federation sync between two nodes on loopback (docs/federation.md): node A gets N
# indicators (wrk + bench/ingest.lua, envelopes of 1000), node B mirrors A's collection as a
# peer (logged in as A's admin) and runs `detente sync` once: objects/s, peak RSS of A's node,
# B's node and the sync process, then a no-op round's latency and request count.
# Usage: bench/federation.sh [N=100000] [PAGE=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
PAGE=${2:-1000}
OUT=${BENCH_DIR:-/tmp/bench-federation}
rm -rf "$OUT" && mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p detente
BIN=target/release/detente
PY=python3
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PA=$(port); PB=$(port)
"$BIN" serve --data "$OUT/a" --origin bench-a/log --listen "127.0.0.1:$PA" >"$OUT/a.out" 2>"$OUT/a.err" &
A=$!
"$BIN" serve --data "$OUT/b" --origin bench-b/log --listen "127.0.0.1:$PB" >"$OUT/b.out" 2>"$OUT/b.err" &
B=$!
trap 'kill $A $B 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for p in "$PA" "$PB"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
done
CA=$("$BIN" collection add --title bench --data "$OUT/a" 2>/dev/null | tail -1)
CB=$("$BIN" collection add --title mirror --data "$OUT/b" 2>/dev/null | tail -1)
AUTH=$(tr -d '\n' <"$OUT/a/admin.credentials" | base64 -w0)
URL="http://127.0.0.1:$PA/api/collections/$CA/objects/"
count() {
  $PY -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from objects").fetchone()[0])' "$1"
}
echo "== filling A with $N objects"
have=0
while [ "$have" -lt "$N" ]; do
  wrk -t1 -c2 -d2s -s bench/ingest.lua -H "Authorization: Basic $AUTH" "$URL" -- 1000 >>"$OUT/wrk.log" 2>&1
  have=$(count "$OUT/a/detente.sqlite")
done
echo "A holds $have objects; waiting for its checkpoint to cover them"
for _ in $(seq 600); do
  size=$(curl -sf "http://127.0.0.1:$PA/log/checkpoint" | sed -n 2p)
  [ "$size" -ge "$have" ] && break
  sleep 0.5
done
KEY=$("$BIN" log-key --data "$OUT/a" 2>/dev/null | tail -1)
"$BIN" peer add a --url "http://127.0.0.1:$PA" --log-key "$KEY" \
  --credentials "$OUT/a/admin.credentials" --data "$OUT/b" 2>/dev/null
"$BIN" peer mirror a --remote-collection "$CA" --into "$CB" --data "$OUT/b" 2>/dev/null

echo "== initial sync (page $PAGE), load $(cut -d' ' -f1-3 /proc/loadavg)"
# RSS counts the SQLite memory map (file pages the kernel may drop); Anonymous (heap) is what
# must stay bounded, so both are sampled.
mem() { awk '/^Rss:/ {r=$2} /^Anonymous:/ {a=$2} END {print r+0, a+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0 0; }
start=$(date +%s.%N)
"$BIN" sync --page "$PAGE" --data "$OUT/b" >"$OUT/sync.out" 2>"$OUT/sync.err" &
SYNC=$!
peak_rss=0; peak_anon=0
while kill -0 "$SYNC" 2>/dev/null; do
  read -r rss anon <<<"$(mem "$SYNC")"
  [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
  [ "$anon" -gt "$peak_anon" ] && peak_anon=$anon
  sleep 0.2
done
wait "$SYNC"
end=$(date +%s.%N)
cat "$OUT/sync.out"
secs=$($PY -c "print(round($end - $start, 2))")
hwm() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
anon() { read -r _ a <<<"$(mem "$1")"; $PY -c "print(round($a / 1024, 1))"; }
mirrored=$(count "$OUT/b/detente.sqlite")
printf '%-34s %s\n' objects "$mirrored" \
  "seconds" "$secs" \
  "objects/s" "$($PY -c "print(round($mirrored / $secs))")" \
  "sync process peak RSS / anon MiB" "$($PY -c "print(round($peak_rss / 1024, 1), round($peak_anon / 1024, 1))")" \
  "node A peak RSS / anon now MiB" "$(hwm $A) $(anon $A)" \
  "node B peak RSS / anon now MiB" "$(hwm $B) $(anon $B)" \
  "load avg after" "$(cut -d' ' -f1-3 /proc/loadavg)"

echo "== no-op sync"
for i in 1 2 3; do
  start=$(date +%s.%N)
  "$BIN" sync --data "$OUT/b" >"$OUT/noop.out"
  end=$(date +%s.%N)
  printf 'no-op %d: %.3f s, %s\n' "$i" "$($PY -c "print($end - $start)")" \
    "$(grep -o '[0-9]* requests' "$OUT/noop.out")"
done
