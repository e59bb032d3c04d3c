#!/usr/bin/env bash
# The picture matches the code: ARCHITECTURE.md's dependency graph is cargo metadata's, and no
# crate's modules use each other in a cycle (scripts/check_architecture.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 scripts/check_architecture.py
