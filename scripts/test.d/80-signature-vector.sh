#!/usr/bin/env bash
# The contributor-signature test vector (written by detente-sign from a fixed seed) checked by
# an implementation other than ours: Python's `cryptography` and RFC 8785 (docs/signatures.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" tests/signatures/vector_check.py testdata/signatures/vector.json
