#!/usr/bin/env bash
# Initial federation sync between two nodes on loopback (docs/federation.md): node A gets N
# indicators (wrk + bench/ingest.lua, envelopes of 1000), node B mirrors A's collection as a
# peer (logged in as A's admin) and runs `detente sync` once: objects/s, peak RSS of A's node,
# B's node and the sync process, then a no-op round's latency and request count.
# Usage: bench/federation.sh [N=100000] [PAGE=1000]
#   BASE=path/to/detente bench/federation.sh …   # also the same sync by another build (node A
#                                                # and B served by it too), side by side
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
PAGE=${2:-1000}
OUT=${BENCH_DIR:-target/bench-federation}
rm -rf "$OUT" && mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -p detente
BIN=target/release/detente
PY=python3
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done; }
count() {
  $PY -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from objects").fetchone()[0])' "$1"
}
# RSS counts the SQLite memory map (file pages the kernel may drop); Anonymous (heap) is what
# must stay bounded, so both are sampled.
mem() { awk '/^Rss:/ {r=$2} /^Anonymous:/ {a=$2} END {print r+0, a+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0 0; }
hwm() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

# Node A is filled once, by this build; every build measured then serves the same data.
PA=$(port)
"$BIN" serve --data "$OUT/a" --origin bench-a/log --listen "127.0.0.1:$PA" >"$OUT/a.out" 2>"$OUT/a.err" &
A=$!; PIDS+=("$A")
up "$PA"
CA=$("$BIN" collection add --title bench --data "$OUT/a" 2>/dev/null | tail -1)
AUTH=$(tr -d '\n' <"$OUT/a/admin.credentials" | base64 -w0)
URL="http://127.0.0.1:$PA/api/collections/$CA/objects/"
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
kill "$A"; wait "$A" 2>/dev/null || true

# One initial sync and three no-op rounds by build $2, results into $OUT/$1.txt.
measure() {
  local name=$1 bin=$2 b="$OUT/b-$1" pa pb a b_pid sync peak_rss peak_anon start end secs mirrored
  pa=$(port); pb=$(port)
  "$bin" serve --data "$OUT/a" --origin bench-a/log --listen "127.0.0.1:$pa" >>"$OUT/a.out" 2>>"$OUT/a.err" &
  a=$!; PIDS+=("$a")
  "$bin" serve --data "$b" --origin bench-b/log --listen "127.0.0.1:$pb" >"$b.out" 2>"$b.err" &
  b_pid=$!; PIDS+=("$b_pid")
  up "$pa"; up "$pb"
  local cb
  cb=$("$bin" collection add --title mirror --data "$b" 2>/dev/null | tail -1)
  "$bin" peer add a --url "http://127.0.0.1:$pa" --log-key "$KEY" \
    --credentials "$OUT/a/admin.credentials" --data "$b" 2>/dev/null
  "$bin" peer mirror a --remote-collection "$CA" --into "$cb" --data "$b" 2>/dev/null
  echo "== $name: initial sync (page $PAGE), load $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$b.time" "$bin" sync --page "$PAGE" --data "$b" >"$b.sync.out" 2>"$b.sync.err" &
  sync=$!
  peak_rss=0; peak_anon=0
  while kill -0 "$sync" 2>/dev/null; do
    # /usr/bin/time's child is the sync process.
    local child rss anon
    child=$(pgrep -P "$sync" | head -1 || true)
    read -r rss anon <<<"$(mem "${child:-$sync}")"
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    [ "$anon" -gt "$peak_anon" ] && peak_anon=$anon
    sleep 0.2
  done
  wait "$sync" || true
  end=$(date +%s.%N)
  cat "$b.sync.out"
  secs=$($PY -c "print(round($end - $start, 2))")
  mirrored=$(count "$b/detente.sqlite")
  {
    echo "objects $mirrored"
    echo "seconds $secs"
    echo "objects/s $($PY -c "print(round($mirrored / $secs))")"
    echo "sync CPU s (user+sys) $(awk '{print $1 + $2}' "$b.time")"
    echo "sync peak RSS MiB $($PY -c "print(round($peak_rss / 1024, 1))")"
    echo "sync peak anon MiB $($PY -c "print(round($peak_anon / 1024, 1))")"
    echo "node A peak RSS MiB $(hwm "$a")"
    echo "node B peak RSS MiB $(hwm "$b_pid")"
    for i in 1 2 3; do
      start=$(date +%s.%N)
      "$bin" sync --data "$b" >"$b.noop.out"
      end=$(date +%s.%N)
      echo "no-op $i s $($PY -c "print(round($end - $start, 3))")"
      echo "no-op $i requests $(grep -o '[0-9]* requests' "$b.noop.out" | cut -d' ' -f1)"
    done
    echo "load avg after $(cut -d' ' -f1 /proc/loadavg)"
  } >"$OUT/$name.txt"
  kill "$a" "$b_pid"; wait "$a" "$b_pid" 2>/dev/null || true
}

modes=(this)
[ -n "${BASE:-}" ] && modes=(base this)
for m in "${modes[@]}"; do
  if [ "$m" = base ]; then measure base "$BASE"; else measure this "$BIN"; fi
done

echo "== results (N=$N, page $PAGE)"
if [ -n "${BASE:-}" ]; then
  $PY - "$OUT/base.txt" "$OUT/this.txt" <<'EOF'
import sys
def read(p):
    rows = []
    for line in open(p):
        k, v = line.rstrip("\n").rsplit(" ", 1)
        rows.append((k, v))
    return rows
base, this = read(sys.argv[1]), dict(read(sys.argv[2]))
print(f"{'':34} {'base':>10} {'this':>10} {'this/base':>10}")
for k, b in base:
    t = this.get(k, "")
    try:
        ratio = f"{float(t) / float(b):.2f}" if float(b) else ""
    except ValueError:
        ratio = ""
    print(f"{k:34} {b:>10} {t:>10} {ratio:>10}")
EOF
else
  awk '{v=$NF; $NF=""; printf "%-34s %s\n", $0, v}' "$OUT/this.txt"
fi
