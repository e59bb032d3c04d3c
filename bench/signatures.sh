#!/usr/bin/env bash
# Contributor signatures (issue 13, item 1): what signing and checking cost. A real
# `detente serve` on loopback; N indicators pushed unsigned into one collection and signed
# (`push --sign`, the node verifying each signature) into another; both pulled back, the
# signed one with `--verify-signatures` (key bindings proven in the log). Prints objects/s of
# each step and the load average beside them (absolute times on a shared machine are noisy).
# Usage: bench/signatures.sh [N=20000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
OUT=target/bench-signatures
cargo build --release --locked -q -p detente
BIN=target/release/detente
D=$OUT/node
rm -rf "$OUT"
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
RUST_LOG=warn $BIN serve --data "$D" --listen "127.0.0.1:$PORT" >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
SECRET=$($BIN member add alice --role contributor --data "$D" 2>/dev/null | tail -1)
PLAIN=$($BIN collection add --title plain --data "$D" 2>/dev/null | tail -1)
SIGNED=$($BIN collection add --title signed --require-signatures --data "$D" 2>/dev/null | tail -1)
for c in "$PLAIN" "$SIGNED"; do $BIN collection grant "$c" alice read-write --data "$D" 2>/dev/null; done
VKEY=$($BIN keygen --out "$OUT/alice.key" 2>/dev/null | tail -1)
$BIN member set-key alice "$VKEY" --data "$D" 2>/dev/null
LOGKEY=$($BIN log-key --data "$D")
python3 - "$N" >"$OUT/bundle.json" <<'PY'
import json, sys, uuid, random
n = int(sys.argv[1]); r = random.Random(7)
objs = [{"type": "indicator", "spec_version": "2.1",
         "id": f"indicator--{uuid.UUID(int=r.getrandbits(128), version=4)}",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "name": f"bench {i}", "pattern": f"[domain-name:value = 'd{i}.bench.example']",
         "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"} for i in range(n)]
json.dump({"type": "bundle", "id": f"bundle--{uuid.UUID(int=1, version=4)}", "objects": objs}, sys.stdout)
PY
export DETENTE_SECRET=$SECRET
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}')" "$1" "$2"; }
timed() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$OUT/last.err" || { cat "$OUT/last.err" >&2; exit 1; }; e=$(date +%s.%N); python3 -c "print(f'{$e - $s:.2f}')"; }
echo "== $N indicators, $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
T=$(timed $BIN push "$OUT/bundle.json" --url "$URL/api/" --collection "$PLAIN" --user alice)
echo "push unsigned:                 ${T} s  $(rate "$N" "$T") objects/s"
T=$(timed $BIN push "$OUT/bundle.json" --url "$URL/api/" --collection "$SIGNED" --user alice --sign "$OUT/alice.key")
echo "push --sign (node verifies):   ${T} s  $(rate "$N" "$T") objects/s"
T=$(timed $BIN pull --url "$URL/api/" --collection "$PLAIN" --user alice --out "$OUT/plain.json")
echo "pull:                          ${T} s  $(rate "$N" "$T") objects/s"
T=$(timed $BIN pull --url "$URL/api/" --collection "$SIGNED" --user alice --out "$OUT/signed.json" --verify-signatures --log-key "$LOGKEY" --state "$OUT/state")
echo "pull --verify-signatures:      ${T} s  $(rate "$N" "$T") objects/s"
grep -h "signatures:" "$OUT/last.err"
echo "load avg after $(cut -d' ' -f1-3 /proc/loadavg)"
