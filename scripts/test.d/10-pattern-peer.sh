#!/usr/bin/env bash
# OASIS STIX Patterning peer suites (stix2-matcher 3.0.0 + stix2-patterns 2.1.2, run unmodified
# by ../shared/peer-tests/stix-patterning/run.sh) against `detente pattern`, with typed errors.
# Expected: 1011 passed, 118 skipped (white-box tests of the Python reference), 0 failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p detente --locked
# run.sh changes directory, so the engine path must be absolute.
out=$(ENGINE_CMD="$PWD/target/release/detente pattern" HARNESS_STRICT_ERRORS=1 \
  ../shared/peer-tests/stix-patterning/run.sh 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "$out" | tail -3
echo "$out" | tail -1 | grep -Eq '^1011 passed, 118 skipped' || { echo "unexpected summary" >&2; exit 1; }
