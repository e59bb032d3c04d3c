#!/usr/bin/env bash
# Fail-over of the sequencer lease (issue 15): three `detente serve` nodes on one throwaway
# PostgreSQL, ingest running, the node holding the lease killed with SIGKILL KILLS times
# (default 100). After each kill another node must publish the next checkpoint within 5 s, and
# `detente verify --state` (through a round-robin balancer and against each node) must never
# see a rollback or a fork; at the end the three nodes must serve one checkpoint within 2 s.
# This is crates/detente/tests/pg_failover.rs with more kills; it prints the takeover times.
# Usage: bench/failover.sh [KILLS=100]
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-100}
export CARGO_INCREMENTAL=0
OUT=target/bench-failover
mkdir -p "$OUT"
echo "load before: $(uptime)"
status=0
DETENTE_FAILOVER_KILLS=$KILLS cargo test --release --locked -q -p detente --test pg_failover \
  -- --nocapture >"$OUT/test.log" 2>&1 || status=$?
grep -E "kills of the lease holder|test result|panicked" "$OUT/test.log" || tail -20 "$OUT/test.log"
echo "load after: $(uptime)"
exit $status
