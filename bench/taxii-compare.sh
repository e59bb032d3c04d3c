#!/usr/bin/env bash
# Runs bench/taxii_load.py against detente, medallion 3.0.0 (the OASIS
# reference server, in-memory backend, target/bench-venv) and OpenTAXII 0.9.3 (SQLite-backed,
# under gunicorn with one sync worker, target/opentaxii-venv) with the same workload, one
# after the other, then prints them side by side with detente's ratio to each. Every server
# listens on loopback only and is stopped at the end. medallion slows quadratically, so keep
# N small (default 2000).
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
if [ ! -x target/opentaxii-venv/bin/gunicorn ]; then
  python3 -m venv target/opentaxii-venv
  # OpenTAXII 0.9.3 predates SQLAlchemy 2 and marshmallow 4; pin the last releases it works with.
  target/opentaxii-venv/bin/pip install -q opentaxii==0.9.3 SQLAlchemy==1.4.54 marshmallow==3.26.2 \
    gunicorn==27.0.1 requests
fi
cargo build --release --locked -p detente
PY=target/bench-venv/bin/python
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
load() { cut -d" " -f1-3 /proc/loadavg; }
COMMON=(--n "$N" --batch "$BATCH" --page-limit 100 --requests 300 --query-limit 100 --seed 7 --phase-budget 300)

# detente
DPORT=$(port)
target/release/detente serve --data "$OUT/detente" --listen "127.0.0.1:$DPORT" >"$OUT/detente.out" 2>"$OUT/detente.err" &
PIDS+=($!)
wait_up "http://127.0.0.1:$DPORT/healthz"
DSECRET=$(cut -d: -f2 "$OUT/detente/admin.credentials")
DCOLL=$(target/release/detente collection add --title bench --data "$OUT/detente" 2>/dev/null | tail -1)
$PY bench/taxii_load.py --base-url "http://127.0.0.1:$DPORT" --api-root /api/ \
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
$PY bench/taxii_load.py --base-url "http://127.0.0.1:$MPORT" --api-root /api1/ \
  --collection "$MCOLL" --user admin --password Password0 "${COMMON[@]}" --json-out "$OUT/medallion.json.out" >/dev/null 2>"$OUT/medallion-bench.log" || true

# OpenTAXII (SQLite persistence and SQLite auth, TAXII 2.1 only; api root, collection and account
# made with its own CLI tools)
OT="$PWD/$OUT/opentaxii"
mkdir -p "$OT"
OPORT=$(port)
cat >"$OT/config.yml" <<YAML
domain: "127.0.0.1:$OPORT"
support_basic_auth: yes
return_server_error_details: no
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: sqlite:///$OT/auth.db
    create_tables: yes
    secret: opentaxii-bench-secret-loopback-only
    token_ttl_secs: 3600
taxii1:
taxii2:
  persistence_api:
    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI
    parameters:
      db_connection: sqlite:///$OT/data.db
      create_tables: yes
  max_content_length: 104857600
  title: opentaxii bench
  public_discovery: no
  allow_custom_properties: yes
logging:
  opentaxii: warning
  root: warning
YAML
# OpenTAXII 0.9.3 passes uuid.UUID values to json.dumps (POST reply, status, collections list)
# and answers 500; this shim only lets those replies serialise, nothing else changes.
cat >"$OT/ot_compat.py" <<'PYSHIM'
import json
import types

import opentaxii.taxii2.http as _h

_h.json = types.SimpleNamespace(dumps=lambda data, **kw: json.dumps(data, default=str, **kw))
from opentaxii.http import app  # noqa: E402,F401
PYSHIM
OB=target/opentaxii-venv/bin
export OPENTAXII_CONFIG="$OT/config.yml"
$OB/opentaxii-add-api-root -t bench --default >"$OT/setup.log" 2>&1
OROOT=$($OB/python -c 'import sqlite3, sys, uuid; print(uuid.UUID(sqlite3.connect(sys.argv[1]).execute("select id from opentaxii_api_root").fetchone()[0]))' "$OT/data.db")
$OB/opentaxii-add-collection -r "$OROOT" -t bench >>"$OT/setup.log" 2>&1
OCOLL=$($OB/python -c 'import sqlite3, sys, uuid; print(uuid.UUID(sqlite3.connect(sys.argv[1]).execute("select id from opentaxii_collection").fetchone()[0]))' "$OT/data.db")
# create-account ignores its -a flag in 0.9.3; update-account is what makes the account admin.
$OB/opentaxii-create-account -u admin -p Password0 >>"$OT/setup.log" 2>&1
$OB/opentaxii-update-account -u admin -f admin -v y >>"$OT/setup.log" 2>&1
$OB/gunicorn --chdir "$OT" --pythonpath "$OT" --workers 1 --bind "127.0.0.1:$OPORT" ot_compat:app >"$OT/gunicorn.log" 2>&1 &
PIDS+=($!)
wait_up "http://127.0.0.1:$OPORT/taxii2/"
echo "opentaxii start load $(load)" >&2
$PY bench/taxii_load.py --base-url "http://127.0.0.1:$OPORT" --api-root "/taxii2/$OROOT/" \
  --collection "$OCOLL" --user admin --password Password0 "${COMMON[@]}" --json-out "$OUT/opentaxii.json" >/dev/null 2>"$OUT/opentaxii-bench.log" || true

$PY - "$OUT/detente.json" "$OUT/medallion.json.out" "$OUT/opentaxii.json" <<'PY'
import json, sys
d, m, o = (json.load(open(p)) for p in sys.argv[1:4])
def val(r, f):
    try:
        return f(r)
    except (KeyError, TypeError):
        return None
def ratio(a, b, lower_is_better):
    if not a or not b:
        return "-"
    return f"{(b / a if lower_is_better else a / b):.1f}x"
def row(name, f, lower_is_better=False, ratios=True):
    dv, mv, ov = val(d, f), val(m, f), val(o, f)
    cells = [("-" if v is None else str(v)) for v in (dv, mv, ov)]
    rm, ro = (ratio(dv, mv, lower_is_better), ratio(dv, ov, lower_is_better)) if ratios else ("", "")
    print(f"{name:40} {cells[0]:>10} {cells[1]:>10} {cells[2]:>10} {rm:>9} {ro:>9}")
print(f"{'N=' + str(d['n']) + ' batch=' + str(d['batch']):40} {'detente':>10} {'medallion':>10} {'opentaxii':>10} {'d/med':>9} {'d/otx':>9}")
row("POST objects/s (until status complete)", lambda r: r["post"]["objects_per_s"])
row("objects stored (posted ok)", lambda r: r["post"]["objects_posted"], ratios=False)
row("GET all pages objects/s", lambda r: r["get_all"]["objects_per_s"])
row("GET all pages objects received", lambda r: r["get_all"]["objects_received"], ratios=False)
row("match[type] limit=100 req/s", lambda r: r["query"]["match_type_indicator_limit100"]["req_per_s"])
row("match[type] p99 ms", lambda r: r["query"]["match_type_indicator_limit100"]["p99_ms"], True)
row("by-id GET req/s", lambda r: r["query"]["object_by_id"]["req_per_s"])
row("by-id GET p99 ms", lambda r: r["query"]["object_by_id"]["p99_ms"], True)
for name, r in (("detente", d), ("medallion", m), ("opentaxii", o)):
    errs = [e for ph in ("post", "get_all") for e in (val(r, lambda x: x[ph]["errors"]) or [])]
    print(f"{name}: load avg start {r.get('loadavg_start')} end {r.get('loadavg_end')}; errors: {len(errs)} {errs[:1]}")
print("ratios: detente / other for rates, other / detente for p99 latencies (>1x = detente better)")
PY
