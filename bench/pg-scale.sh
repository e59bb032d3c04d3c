#!/usr/bin/env bash
# PostgreSQL scale-out (issue 15), side by side in one run on loopback: durable ingest
# (objects/s acknowledged, each 202 after its commit) and by-id GET req/s for
#   (a) one detente node on SQLite,
#   (b) one detente node on PostgreSQL,
#   (c) three detente nodes on one PostgreSQL database, the load spread over the three,
#   (d) OpenTAXII 0.9.3 on the same PostgreSQL server (its SQL backend through SQLAlchemy and
#       psycopg2, under gunicorn with OT_WORKERS sync workers).
# The script starts its own PostgreSQL cluster (initdb into target/, as the user postgres when
# run as root; a free loopback port; fsync and synchronous_commit on, the defaults), so
# acknowledged means committed to disk. Writers: three wrk processes at once (bench/ingest.lua,
# CONNS connections each, envelopes of BATCH new indicators, ids kept apart per process), each
# aimed at its own node in (c) and all at the one server otherwise. Then by-id GETs of ids drawn
# from what was stored (bench/byid.lua), three wrk processes the same way. After each ingest
# the rows in the database are counted: every acknowledged object must be there.
# Prints a table with each configuration's ratio to OpenTAXII and the issue's targets (three
# nodes on PostgreSQL >= 20,000 objects/s and >= 50x OpenTAXII), and the load average at each
# step (the machine is shared).
# OpenTAXII takes seconds per envelope, so its ingest runs OT_SECS (default 60) to complete
# several; wrk counts only the envelopes answered within the run.
# Usage: bench/pg-scale.sh [SECONDS=20] [BATCH=500] [CONNS=2]   (OT_WORKERS=4, OT_SECS=60)
# DETENTE_BIN=path runs that binary instead of building target/release/detente.
# CONFIGS="sqlite pg-1-node pg-3-nodes opentaxii" (the default) picks the configurations run.
# PG_OPTS="-c name=value ..." adds server settings (e.g. synchronous_commit=off, to see what
# the WAL flush costs; the header prints them). PG_STATEMENTS=1 loads pg_stat_statements
# (track=all, so trigger statements count apart) and prints, after each PostgreSQL ingest, the
# statements that took the most execution time.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
BATCH=${2:-500}
CONNS=${3:-2}
OT_WORKERS=${OT_WORKERS:-4}
OT_SECS=${OT_SECS:-60}
BYID_SECS=10
OUT=$PWD/target/bench-pg-scale
CONFIGS=${CONFIGS:-sqlite pg-1-node pg-3-nodes opentaxii}
PG_OPTS=${PG_OPTS:-}
[ -z "${PG_STATEMENTS:-}" ] ||
  PG_OPTS="$PG_OPTS -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
run_config() { case " $CONFIGS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
BIN=${DETENTE_BIN:-target/release/detente}
[ -n "${DETENTE_BIN:-}" ] || cargo build --release --locked -p detente
if [ -d "$OUT/pg" ]; then
  # A run that was interrupted may have left its cluster running.
  pg_bin=$(dirname "$(readlink -f "$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_bin/pg_ctl" stop -D "$OUT/pg/data" -m immediate >/dev/null 2>&1 || true
  else "$pg_bin/pg_ctl" stop -D "$OUT/pg/data" -m immediate >/dev/null 2>&1 || true; fi
fi
rm -rf "$OUT" && mkdir -p "$OUT"
if [ ! -x target/opentaxii-venv/bin/gunicorn ]; then
  python3 -m venv target/opentaxii-venv
  # As bench/taxii-compare.sh: OpenTAXII 0.9.3 predates SQLAlchemy 2 and marshmallow 4.
  target/opentaxii-venv/bin/pip install -q opentaxii==0.9.3 SQLAlchemy==1.4.54 marshmallow==3.26.2 \
    gunicorn==27.0.1 requests
fi
target/opentaxii-venv/bin/python -c 'import psycopg2' 2>/dev/null ||
  target/opentaxii-venv/bin/pip install -q psycopg2-binary==2.9.11

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }
load() { cut -d" " -f1-3 /proc/loadavg; }
b64() { printf '%s' "$1" | base64 -w0; }

# --- PostgreSQL: a throwaway cluster, durable settings ---------------------------------------
PGBIN=$(dirname "$(readlink -f "$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$OUT/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$OUT/pg"
as_pg "$PGBIN/initdb" -D "$OUT/pg/data" -U postgres --auth=trust -E UTF8 --locale=C >"$OUT/pg/initdb.log"
PGPORT=$(port)
as_pg "$PGBIN/pg_ctl" start -D "$OUT/pg/data" -l "$OUT/pg/log" -w -t 60 -o \
  "-p $PGPORT -k $OUT/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB $PG_OPTS" >/dev/null
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" stop -D "$OUT/pg/data" -m fast >/dev/null 2>&1 || true
}
trap cleanup EXIT
PGURL="postgres://postgres@127.0.0.1:$PGPORT"
psqlc() { local db=$1; shift; "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" "$@"; }
for db in detente_one detente_three opentaxii; do psqlc postgres -c "CREATE DATABASE $db"; done
[ -z "${PG_STATEMENTS:-}" ] || psqlc postgres -c "CREATE EXTENSION pg_stat_statements"
echo "PostgreSQL $(psqlc postgres -c 'SHOW server_version') on port $PGPORT:" \
  "fsync=$(psqlc postgres -c 'SHOW fsync') synchronous_commit=$(psqlc postgres -c 'SHOW synchronous_commit')" \
  "commit_delay=$(psqlc postgres -c 'SHOW commit_delay')${PG_OPTS:+ (PG_OPTS:$PG_OPTS)}"

RESULTS=$OUT/results.tsv
printf 'config\tingest_objs\tingest_secs\tacked\tstored\tnon2xx\tbyid_req\tbyid_secs\tbyid_p99_ms\tbyid_non2xx\tload_ingest\tload_byid\n' >"$RESULTS"

# wrk_many NAME SCRIPT SECONDS AUTH URL1 URL2 URL3 -- ARGS...: three wrk processes at once,
# one per URL; process i gets stream number i as the script's last argument.
wrk_many() {
  local name=$1 script=$2 secs=$3 auth=$4; shift 4
  local urls=("$1" "$2" "$3"); shift 4
  local pids=() i
  for i in 0 1 2; do
    wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 60s --latency -s "$script" \
      -H "Authorization: Basic $auth" "${urls[$i]}" -- "$@" "$i" >"$OUT/$name.$i.txt" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
}

# The sum over three wrk outputs of acknowledged objects, and the longest duration.
ingest_sum() {
  awk '/^acknowledged_objects/ { n += $2; if ($4 > s) s = $4 } END { printf "%d\t%.3f", n, s }' "$OUT/$1".?.txt
}
# Non-2xx answers and socket errors (connect, read, write, timeout) over three wrk outputs.
non2xx() {
  awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 }
       END { print n + 0 }' "$OUT/$1".?.txt
}
# Requests completed by three wrk by-id runs, the longest duration, the worst p99 (ms).
byid_sum() {
  python3 - "$OUT/$1".?.txt <<'PY'
import re, sys
n, secs, p99 = 0, 0.0, 0.0
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
for path in sys.argv[1:]:
    text = open(path).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    n += int(m.group(1))
    secs = max(secs, float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)])
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", text, re.M)
    p99 = max(p99, float(m.group(1)) * unit[m.group(2)])
print(f"{n}\t{secs:.3f}\t{p99:.2f}")
PY
}

# CPU seconds (user + system) used so far by the detente nodes and by the PostgreSQL cluster's
# processes: sampled around an ingest, where the time goes.
cpu_of() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat"))); done; echo "$t"; }
cpu_split() {
  local pm; pm=$(head -1 "$OUT/pg/data/postmaster.pid")
  local servers=("${PIDS[@]}") p
  for p in "${PIDS[@]}"; do servers+=($(pgrep -P "$p")); done  # gunicorn's workers
  echo "$(cpu_of "${servers[@]}") $(cpu_of "$pm" $(pgrep -P "$pm"))"
}
# What the active database sessions of DB wait on, sampled every 0.2 s until $OUT/stop-sampling.
pg_sampler() {
  while [ ! -e "$OUT/stop-sampling" ]; do
    psqlc postgres -F' ' -c "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-') \
      FROM pg_stat_activity WHERE datname = '$1' AND state = 'active' AND pid <> pg_backend_pid()"
    sleep 0.2
  done
}

# measure NAME SECS AUTH COUNT_FN IDS_FN URL1 URL2 URL3: ingest, count, then by-id.
measure() {
  local name=$1 secs=$2 auth=$3 count_fn=$4 ids_fn=$5; shift 5
  local urls=("$@")
  local l1 l2 acked_secs acked stored byid
  [ "$name" = sqlite ] || psqlc postgres -c CHECKPOINT
  l1=$(load)
  echo "== $name: ingest ${secs}s, 3 wrk x $CONNS connections, envelopes of $BATCH; load $l1" >&2
  local cpu0 sampler=""; cpu0=$(cpu_split)
  [ -z "${PG_STATEMENTS:-}" ] || psqlc postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
  rm -f "$OUT/stop-sampling"
  if [ -n "${SAMPLE_DB:-}" ]; then pg_sampler "$SAMPLE_DB" >"$OUT/$name-waits.txt" & sampler=$!; fi
  wrk_many "$name-ingest" bench/ingest.lua "$secs" "$auth" "${urls[@]}" -- "$BATCH"
  touch "$OUT/stop-sampling"; [ -z "$sampler" ] || wait "$sampler"
  local cpu1; cpu1=$(cpu_split)
  python3 - "$cpu0" "$cpu1" "$(getconf CLK_TCK)" "$secs" <<'PY' >&2
import sys
(n0, p0), (n1, p1) = (map(int, a.split()) for a in sys.argv[1:3])
hz, secs = int(sys.argv[3]), float(sys.argv[4])
print(f"   CPU during ingest: server process(es) {(n1 - n0) / hz:.1f} s, PostgreSQL {(p1 - p0) / hz:.1f} s "
      f"(of {2 * secs:.0f} core-seconds on 2 cores)")
PY
  if [ -n "$sampler" ]; then
    echo "   database sessions of the nodes, by wait (share of samples):" >&2
    sort "$OUT/$name-waits.txt" | uniq -c | sort -rn | head -6 |
      awk -v n="$(wc -l <"$OUT/$name-waits.txt")" '{ printf "     %5.1f%% %s %s\n", 100 * $1 / n, $2, $3 }' >&2
  fi
  if [ -n "${PG_STATEMENTS:-}" ] && [ -n "${SAMPLE_DB:-}" ]; then
    echo "   statements by execution time (ms total, calls, ms per call, nested counted apart):" >&2
    psqlc postgres -F' | ' -c "SELECT round(s.total_exec_time), s.calls,
        round((s.total_exec_time / greatest(s.calls, 1))::numeric, 2),
        left(regexp_replace(s.query, '\s+', ' ', 'g'), 90)
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = '$SAMPLE_DB' ORDER BY s.total_exec_time DESC LIMIT 8" |
      sed 's/^/     /' >&2
  fi
  acked_secs=$(ingest_sum "$name-ingest")
  acked=${acked_secs%%$'\t'*}
  # Envelopes still in flight when wrk stopped go on in the server (OpenTAXII's for many
  # seconds): wait until the count stops moving, so by-id GETs do not queue behind them.
  stored=$($count_fn)
  while sleep 3; [ "$($count_fn)" != "$stored" ]; do stored=$($count_fn); done
  echo "   acknowledged $acked objects, $stored stored" >&2
  [ "$stored" -ge "$acked" ] || echo "   !! fewer objects stored ($stored) than acknowledged ($acked)" >&2
  $ids_fn >"$OUT/$name-ids.txt"
  [ -s "$OUT/$name-ids.txt" ] || { echo "   !! nothing stored: no ids for the by-id step" >&2; return 1; }
  l2=$(load)
  echo "== $name: by-id ${BYID_SECS}s, 3 wrk x $CONNS connections; load $l2" >&2
  wrk_many "$name-byid" bench/byid.lua "$BYID_SECS" "$auth" "${urls[@]}" -- "$OUT/$name-ids.txt"
  byid=$(byid_sum "$name-byid")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$acked_secs" "$acked" "$stored" \
    "$(non2xx "$name-ingest")" "$byid" "$(non2xx "$name-byid")" "$l1" "$l2" >>"$RESULTS"
}

# start_node NAME [serve flags...]: a detente node in $OUT/NAME; sets NODE to its base URL
# (not printed: in a command substitution the node's pid would not reach PIDS).
start_node() {
  local name=$1; shift
  local p; p=$(port)
  "$BIN" serve --data "$OUT/$name" --listen "127.0.0.1:$p" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$p/healthz"
  NODE="http://127.0.0.1:$p"
}
stop_nodes() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
}

# --- (a) one node on SQLite -------------------------------------------------------------------
if run_config sqlite; then
start_node sqlite; U=$NODE
COLL=$("$BIN" collection add --title bench --data "$OUT/sqlite" 2>/dev/null | tail -1)
AUTH=$(b64 "$(cat "$OUT/sqlite/admin.credentials")")
O="$U/api/collections/$COLL/objects/"
sqlite_count() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from objects").fetchone()[0])' "$OUT/sqlite/detente.sqlite"; }
sqlite_ids() { python3 -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("select object_id from objects order by random() limit 20000")]' "$OUT/sqlite/detente.sqlite"; }
measure sqlite "$SECS" "$AUTH" sqlite_count sqlite_ids "$O" "$O" "$O"
stop_nodes
fi

# --- (b) one node on PostgreSQL ---------------------------------------------------------------
if run_config pg-1-node; then
start_node pg1 --database-url "$PGURL/detente_one"; U=$NODE
COLL=$("$BIN" collection add --title bench --data "$OUT/pg1" --database-url "$PGURL/detente_one" 2>/dev/null | tail -1)
AUTH=$(b64 "$(cat "$OUT/pg1/admin.credentials")")
O="$U/api/collections/$COLL/objects/"
one_count() { psqlc detente_one -c "select count(*) from objects"; }
one_ids() { psqlc detente_one -c "select object_id from objects order by random() limit 20000"; }
SAMPLE_DB=detente_one measure pg-1-node "$SECS" "$AUTH" one_count one_ids "$O" "$O" "$O"
stop_nodes
fi

# --- (c) three nodes on one PostgreSQL database -----------------------------------------------
if run_config pg-3-nodes; then
start_node pg3a --database-url "$PGURL/detente_three"; U1=$NODE
COLL=$("$BIN" collection add --title bench --data "$OUT/pg3a" --database-url "$PGURL/detente_three" 2>/dev/null | tail -1)
for n in pg3b pg3c; do mkdir -p "$OUT/$n" && cp "$OUT/pg3a/admin.credentials" "$OUT/$n/"; done
start_node pg3b --database-url "$PGURL/detente_three"; U2=$NODE
start_node pg3c --database-url "$PGURL/detente_three"; U3=$NODE
AUTH=$(b64 "$(cat "$OUT/pg3a/admin.credentials")")
P="/api/collections/$COLL/objects/"
three_count() { psqlc detente_three -c "select count(*) from objects"; }
three_ids() { psqlc detente_three -c "select object_id from objects order by random() limit 20000"; }
SAMPLE_DB=detente_three measure pg-3-nodes "$SECS" "$AUTH" three_count three_ids "$U1$P" "$U2$P" "$U3$P"
stop_nodes
fi

# --- (d) OpenTAXII 0.9.3 on the same PostgreSQL -----------------------------------------------
if run_config opentaxii; then
OT="$OUT/opentaxii"
mkdir -p "$OT"
OPORT=$(port)
cat >"$OT/config.yml" <<YAML
domain: "127.0.0.1:$OPORT"
support_basic_auth: yes
return_server_error_details: no
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: postgresql://postgres@127.0.0.1:$PGPORT/opentaxii
    create_tables: yes
    secret: opentaxii-bench-secret-loopback-only
    token_ttl_secs: 3600
taxii1:
taxii2:
  persistence_api:
    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI
    parameters:
      db_connection: postgresql://postgres@127.0.0.1:$PGPORT/opentaxii
      create_tables: yes
  max_content_length: 104857600
  title: opentaxii bench
  public_discovery: no
  allow_custom_properties: yes
logging:
  opentaxii: warning
  root: warning
YAML
# The same shim as bench/taxii-compare.sh: OpenTAXII 0.9.3 hands uuid.UUID values to json.dumps.
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
OROOT=$(psqlc opentaxii -c "select id from opentaxii_api_root")
$OB/opentaxii-add-collection -r "$OROOT" -t bench >>"$OT/setup.log" 2>&1
OCOLL=$(psqlc opentaxii -c "select id from opentaxii_collection")
$OB/opentaxii-create-account -u admin -p Password0 >>"$OT/setup.log" 2>&1
$OB/opentaxii-update-account -u admin -f admin -v y >>"$OT/setup.log" 2>&1
# A 500-object envelope takes OpenTAXII over gunicorn's default 30 s worker timeout under load.
$OB/gunicorn --chdir "$OT" --pythonpath "$OT" --workers "$OT_WORKERS" --timeout 600 \
  --bind "127.0.0.1:$OPORT" ot_compat:app >"$OT/gunicorn.log" 2>&1 &
PIDS+=($!)
wait_up "http://127.0.0.1:$OPORT/taxii2/"
O="http://127.0.0.1:$OPORT/taxii2/$OROOT/collections/$OCOLL/objects/"
ot_count() { psqlc opentaxii -c "select count(*) from opentaxii_stixobject"; }
ot_ids() { psqlc opentaxii -c "select id from opentaxii_stixobject order by random() limit 20000"; }
SAMPLE_DB=opentaxii measure opentaxii "$OT_SECS" "$(b64 admin:Password0)" ot_count ot_ids "$O" "$O" "$O"
stop_nodes
fi

# --- the table ----------------------------------------------------------------------------------
python3 - "$RESULTS" "$BATCH" "$CONNS" "$OT_WORKERS" <<'PY'
import csv, sys
rows = {r["config"]: r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")}
batch, conns, workers = sys.argv[2:5]
def rate(r, n, s):
    return float(r[n]) / float(r[s]) if float(r[s]) else 0.0
ot = rows.get("opentaxii")
ot_ingest = rate(ot, "ingest_objs", "ingest_secs") if ot else 0.0
ot_byid = rate(ot, "byid_req", "byid_secs") if ot else 0.0
names = {"sqlite": "(a) 1 node, SQLite", "pg-1-node": "(b) 1 node, PostgreSQL",
         "pg-3-nodes": "(c) 3 nodes, one PostgreSQL", "opentaxii": f"(d) OpenTAXII 0.9.3, PostgreSQL ({workers} workers)"}
print(f"envelopes of {batch} new indicators; 3 wrk processes x {conns} connections; durable "
      "(fsync, synchronous_commit on)")
print(f"{'':44} {'ingest obj/s':>12} {'x OTX':>7} {'by-id req/s':>11} {'x OTX':>7} {'p99 ms':>7} "
      f"{'acked':>8} {'stored':>8} {'errors':>6}  load (ingest | by-id)")
for key in [k for k in ("sqlite", "pg-1-node", "pg-3-nodes", "opentaxii") if k in rows]:
    r = rows[key]
    i, b = rate(r, "ingest_objs", "ingest_secs"), rate(r, "byid_req", "byid_secs")
    xi = f"{i / ot_ingest:.1f}x" if ot_ingest else "-"
    xb = f"{b / ot_byid:.1f}x" if ot_byid else "-"
    errors = int(r["non2xx"]) + int(r["byid_non2xx"])
    print(f"{names[key]:44} {i:12,.0f} {xi:>7} {b:11,.0f} {xb:>7} {float(r['byid_p99_ms']):7.1f} "
          f"{int(r['acked']):8} {int(r['stored']):8} {errors:6}  {r['load_ingest']} | {r['load_byid']}")
three = rows.get("pg-3-nodes")
t = rate(three, "ingest_objs", "ingest_secs") if three else 0.0
print(f"target: 3 nodes on PostgreSQL >= 20,000 objects/s: {t:,.0f} "
      f"({'met' if t >= 20000 else 'missed'})")
x = t / ot_ingest if ot_ingest else 0
print(f"target: 3 nodes >= 50x OpenTAXII's ingest on the same database: {x:.1f}x "
      f"({'met' if x >= 50 else 'missed'})")
missing = [k for k, r in rows.items() if int(r["stored"]) < int(r["acked"])]
print("every acknowledged object stored: " + ("yes" if not missing else "NO for " + ", ".join(missing)))
PY
echo "load at the end: $(uptime)"
