#!/usr/bin/env bash
# OASIS STIX Patterning peer suites (stix2-matcher 3.0.0 + stix2-patterns 2.1.2, fetched from
# PyPI and run unmodified by tests/pattern-peer/run.sh) against `detente pattern`; an engine
# error must carry the right kind (parse or match).
# Expected: 1011 passed, 118 skipped (the white-box tests listed in tests/pattern-peer/README.md),
# 0 failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-release -p detente
# run.sh changes directory, so the engine path must be absolute.
out=$(ENGINE_CMD="$PWD/target/release/detente pattern" tests/pattern-peer/run.sh 2>&1) \
  || { echo "$out" | tail -40; exit 1; }
echo "$out" | tail -7
if echo "$out" | grep -q 'never asked the engine'; then
  echo "a passing test never reached the engine" >&2
  exit 1
fi
echo "$out" | tail -1 | grep -Eq '^1011 passed, 118 skipped' || { echo "unexpected summary" >&2; exit 1; }
