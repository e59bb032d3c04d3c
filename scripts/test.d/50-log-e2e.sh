#!/usr/bin/env bash
# End-to-end transparency log: real node, `detente push`, `detente verify` against the
# published tiles; then restart the node, push more, and verify consistency again.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${DETENTE_BIN:-target/release/detente}
[ -x "$B" ] || cargo build --release --locked -p detente
W=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
D=$W/data
P=$((20000 + RANDOM % 20000))
export DETENTE_STATE=$W/state

start() {
    "$B" serve --data "$D" --listen 127.0.0.1:$P --origin e2e.test/detente >>"$W/serve.log" 2>&1 &
    PID=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$P/log/checkpoint" >/dev/null && return; sleep 0.2; done
    echo "node did not start"; cat "$W/serve.log"; exit 1
}

bundle() { # bundle FILE FROM COUNT
    python3 - "$@" <<'PY'
import json, sys, uuid
path, start, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
objs = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "pattern": f"[ipv4-addr:value = '10.0.{i // 256}.{i % 256}']", "pattern_type": "stix",
         "valid_from": "2024-01-01T00:00:00Z"} for i in range(start, start + n)]
json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}, open(path, "w"))
PY
}

wait_size() { # wait_size N: until the checkpoint covers N leaves
    for _ in $(seq 50); do
        s=$(curl -sf "http://127.0.0.1:$P/log/checkpoint" | sed -n 2p)
        [ "${s:-0}" -ge "$1" ] && return
        sleep 0.2
    done
    echo "checkpoint never reached size $1"; exit 1
}

start
C=$("$B" collection add --data "$D" --title e2e | tail -1)
KEY=$("$B" log-key --data "$D" | tail -1)
bundle "$W/b1.json" 0 10
"$B" push --url "http://127.0.0.1:$P/" --collection "$C" --credentials "$D/admin.credentials" "$W/b1.json"
wait_size 10
"$B" verify --url "http://127.0.0.1:$P" --key "$KEY"
kill "$PID"; wait "$PID" || true; PID=
start
bundle "$W/b2.json" 10 300
"$B" push --url "http://127.0.0.1:$P/" --collection "$C" --credentials "$D/admin.credentials" "$W/b2.json"
wait_size 310
"$B" verify --url "http://127.0.0.1:$P" --key "$KEY" | tee "$W/v2.out"
grep -q "extends the remembered checkpoint of size 10" "$W/v2.out"
# Tampering with a published tile must make verification fail.
printf 'x' | dd of="$D/log/tile/0/000" bs=1 seek=5 conv=notrunc status=none
if "$B" verify --url "http://127.0.0.1:$P" --key "$KEY" >/dev/null 2>&1; then
    echo "verify accepted a tampered tile"; exit 1
fi
echo "log e2e OK"
