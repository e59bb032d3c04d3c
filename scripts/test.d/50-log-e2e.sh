#!/usr/bin/env bash
# End-to-end transparency log against a real node:
#  1. push, then `detente verify` (tiles) and `verify --collection` (every object against its
#     receipt); Go's sumdb/note + sumdb/tlog check the live node's checkpoint and tiles;
#  2. restart, push more, verify consistency with the remembered checkpoint;
#  3. a TAXII DELETE leaves a tombstone that `verify --collection` accepts;
#  4. kill -9 mid-ingest, restart: verify passes and every acknowledged object is served and
#     in the log exactly once;
#  5. a lost log directory is republished identically from the store;
#  6. tampering is caught: an object row edited in the database, an object row silently
#     removed, a tile rewritten, a tile truncated.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${DETENTE_BIN:-target/release/detente}
[ -x "$B" ] || scripts/build-release -p detente
W=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
D=$W/data
P=$((20000 + RANDOM % 20000))
U="http://127.0.0.1:$P"
export DETENTE_STATE=$W/state

start() {
    "$B" serve --data "$D" --listen 127.0.0.1:$P --origin e2e.test/detente >>"$W/serve.log" 2>&1 &
    PID=$!
    for _ in $(seq 50); do curl -sf "$U/log/checkpoint" >/dev/null && return; sleep 0.2; done
    echo "node did not start"; cat "$W/serve.log"; exit 1
}

bundle() { # bundle FILE FROM COUNT
    python3 - "$@" <<'PY'
import json, sys, uuid
path, start, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
objs = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
         "pattern": f"[ipv4-addr:value = '10.{i // 65536}.{i // 256 % 256}.{i % 256}']",
         "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}
        for i in range(start, start + n)]
json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}, open(path, "w"))
PY
}

wait_size() { # wait_size N: until the checkpoint covers N leaves
    for _ in $(seq 50); do
        s=$(curl -sf "$U/log/checkpoint" | sed -n 2p)
        [ "${s:-0}" -ge "$1" ] && return
        sleep 0.2
    done
    echo "checkpoint never reached size $1"; exit 1
}

sql() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); r = c.execute(sys.argv[2]).fetchall(); c.commit()
print("\n".join("|".join(map(str, x)) for x in r))' "$D/detente.sqlite" "$1"; }

must_fail() { # must_fail WHAT PATTERN CMD...: CMD must exit non-zero and print PATTERN
    local what=$1 pattern=$2
    shift 2
    if "$@" >"$W/fail.out" 2>&1; then echo "verify accepted $what"; cat "$W/fail.out"; exit 1; fi
    grep -q -- "$pattern" "$W/fail.out" || { echo "$what: expected '$pattern' in:"; cat "$W/fail.out"; exit 1; }
    echo "caught $what: $(grep FAILED "$W/fail.out" | head -1)"
}

verify() { "$B" verify --url "$U" --key "$KEY" "$@"; }
verify_coll() { verify --collection "$C" --credentials "$D/admin.credentials" "$@"; }

start
C=$("$B" collection add --data "$D" --title e2e | tail -1)
KEY=$("$B" log-key --data "$D" | tail -1)
bundle "$W/b1.json" 0 10
"$B" push --url "$U/" --collection "$C" --credentials "$D/admin.credentials" "$W/b1.json"
wait_size 10
verify_coll | tee "$W/v1.out"
grep -q "collection $C: 10 object versions match" "$W/v1.out"

# An independent implementation checks the live node: Go's sumdb/note and sumdb/tlog.
export GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$PWD/target/go-cache" GOFLAGS=
mkdir -p target/tlog-crosscheck
go build -o target/tlog-crosscheck/tlogcheck ./scripts/tlog-go
target/tlog-crosscheck/tlogcheck -vkey "$KEY" -url "$U"

kill "$PID"; wait "$PID" || true; PID=
start
bundle "$W/b2.json" 10 300
"$B" push --url "$U/" --collection "$C" --credentials "$D/admin.credentials" "$W/b2.json"
wait_size 310
verify_coll | tee "$W/v2.out"
grep -q "extends the remembered checkpoint of size 10" "$W/v2.out"
grep -q "310 object versions match" "$W/v2.out"
target/tlog-crosscheck/tlogcheck -vkey "$KEY" -url "$U"

# A TAXII DELETE is logged as a tombstone, which the remembered receipt is checked against.
GONE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["objects"][0]["id"])' "$W/b2.json")
curl -sf -X DELETE -u "$(cat "$D/admin.credentials")" -H 'Accept: application/taxii+json;version=2.1' \
    "$U/api/collections/$C/objects/$GONE/" >/dev/null
wait_size 311
verify_coll | tee "$W/v3.out"
grep -q "309 object versions match .* 1 remembered versions deleted with a tombstone" "$W/v3.out"

# kill -9 in the middle of ingest: envelopes acknowledged (202) before the kill must survive,
# each in the log exactly once.
: >"$W/acked"
python3 - "$U" "$C" "$D/admin.credentials" "$W/acked" <<'PY' &
import base64, json, sys, urllib.request, uuid
url, coll, cred, acked = sys.argv[1:]
auth = "Basic " + base64.b64encode(open(cred).read().strip().encode()).decode()
t = "application/taxii+json;version=2.1"
with open(acked, "w") as out:
    for e in range(10_000):
        objs = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                 "created": "2024-02-01T00:00:00.000Z", "modified": "2024-02-01T00:00:00.000Z",
                 "pattern": f"[domain-name:value = 'k{e}-{i}.example']", "pattern_type": "stix",
                 "valid_from": "2024-01-01T00:00:00Z"} for i in range(200)]
        req = urllib.request.Request(f"{url}/api/collections/{coll}/objects/", method="POST",
            data=json.dumps({"objects": objs}).encode(),
            headers={"Authorization": auth, "Accept": t, "Content-Type": t})
        try:
            with urllib.request.urlopen(req) as r:
                if r.status != 202: break
                st = json.load(r)
        except Exception:
            break
        for s in st.get("successes", []):
            out.write(s["id"] + "\n")
        out.flush()
PY
PUSHER=$!
for _ in $(seq 100); do [ "$(wc -l <"$W/acked")" -ge 2000 ] && break; sleep 0.1; done
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
wait "$PUSHER" || true
ACKED=$(wc -l <"$W/acked")
[ "$ACKED" -ge 2000 ] || { echo "only $ACKED objects acknowledged before the kill"; exit 1; }
echo "killed the node with -9 after $ACKED acknowledged objects"
start
for _ in $(seq 50); do
    [ "$(curl -sf "$U/log/checkpoint" | sed -n 2p)" = "$(sql 'SELECT count(*) FROM log_leaves')" ] && break
    sleep 0.2
done
verify_coll | tee "$W/v4.out"
python3 - "$W/acked" "$D/detente.sqlite" <<'PY'
import sqlite3, sys
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
c = sqlite3.connect(sys.argv[2])
one = lambda q, *a: c.execute(q, a).fetchone()[0]
for oid in acked:
    n = one("SELECT count(*) FROM objects o JOIN log_nonces n ON n.date_added = o.date_added "
            "WHERE o.object_id = ?", oid)
    assert n == 1, f"acknowledged {oid} is logged {n} times"
leaves = one("SELECT count(*) FROM log_leaves")
logged = one("SELECT count(*) FROM log_nonces") + one("SELECT count(*) FROM log_tombstones")
assert leaves == logged, f"{leaves} leaves but {logged} logged changes"
assert one("SELECT count(DISTINCT leaf_idx) FROM log_nonces") == one("SELECT count(*) FROM log_nonces")
assert one("SELECT count(*) FROM objects WHERE date_added NOT IN (SELECT date_added FROM log_nonces)") == 0
assert one("SELECT max(idx) + 1 FROM log_leaves") == leaves, "log indices have gaps"
print(f"all {len(acked)} acknowledged objects are stored and logged exactly once; {leaves} leaves")
PY

# The published tiles are derived from the store: a lost log directory is republished
# identically (same tiles, same signed checkpoint) before the node serves again.
kill "$PID"; wait "$PID" || true; PID=
mv "$D/log" "$W/log.before"
start
cmp "$D/log/checkpoint" "$W/log.before/checkpoint"
(cd "$D/log" && find tile -type f) | while read -r f; do
    cmp -s "$D/log/$f" "$W/log.before/$f" || { echo "republished $f differs"; exit 1; }
done
verify_coll >/dev/null
echo "republished the log directory identically"

# Tampering with the database behind the log's back is caught by members.
EDIT=$(sql "SELECT object_id FROM objects WHERE coll = (SELECT coll FROM collections WHERE id = '$C') LIMIT 1 OFFSET 5")
sql "UPDATE objects SET body = replace(body, '2024-01-01T00:00:00Z', '2023-01-01T00:00:00Z') WHERE object_id = '$EDIT'" >/dev/null
must_fail "an edited object row" "$EDIT.*altered" verify_coll
sql "UPDATE objects SET body = replace(body, '2023-01-01T00:00:00Z', '2024-01-01T00:00:00Z') WHERE object_id = '$EDIT'" >/dev/null
verify_coll >/dev/null
DROP=$(sql "SELECT object_id FROM objects WHERE coll = (SELECT coll FROM collections WHERE id = '$C') LIMIT 1 OFFSET 7")
sql "DELETE FROM objects WHERE object_id = '$DROP'" >/dev/null
must_fail "a silently removed object" "$DROP.*no longer served and the log has no valid tombstone" verify_coll
# ...and it stays reported on later runs.
must_fail "a silently removed object (again)" "$DROP.*no longer served" verify_coll

# Tampering with published tiles is caught by anyone.
cp "$D/log/tile/0/000" "$W/tile0"
printf 'x' | dd of="$D/log/tile/0/000" bs=1 seek=5 conv=notrunc status=none
must_fail "a rewritten tile" "FAILED" verify
cp "$W/tile0" "$D/log/tile/0/000"
truncate -s 100 "$D/log/tile/0/000"
must_fail "a truncated tile" "tile/0/000 has 100 bytes" verify
echo "log e2e OK"
