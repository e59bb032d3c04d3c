#!/usr/bin/env bash
# The witness checked by an implementation other than ours: a Python program using only the
# `cryptography` package and the C2SP specs acts as a log (its own RFC 6962 trees, proofs and
# signed notes) against a real `detente serve`, and verifies every cosignature/v1 it gets back.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-release -p detente
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" tests/witness/cosig_check.py "$PWD/target/release/detente"
