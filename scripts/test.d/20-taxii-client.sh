#!/usr/bin/env bash
# End-to-end TAXII 2.1 suite: the real taxii2-client and stix2 packages against the release
# `detente` binary (each test module starts its own node on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-release -p detente
DETENTE_BIN="$PWD/target/release/detente" .venv/bin/python -m pytest -q tests/python
