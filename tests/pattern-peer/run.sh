#!/usr/bin/env bash
# Runs the OASIS STIX Patterning test suites (stix2-matcher 3.0.0: does a pattern match these
# observations; stix2-patterns 2.1.2: is this pattern valid), unmodified, against an engine
# speaking the JSON-lines protocol of README.md, through the pytest plugin detente_peer.py.
#
#   ENGINE_CMD="$PWD/target/release/detente pattern" tests/pattern-peer/run.sh [pytest args]
#   tests/pattern-peer/run.sh --setup     # only fetch and install (scripts/setup does this)
#
# The suites are the tests shipped in the packages' source distributions, fetched from PyPI by
# name and version into PEER_CACHE (default ~/.cache/detente-peer-tests), with a virtualenv
# holding requirements.txt. Default: both suites, both STIX versions. Ends with pytest's summary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PEER_CACHE:-$HOME/.cache/detente-peer-tests}
venv=$cache/venv
stamp=$venv/.installed-$(sha256sum "$here/requirements.txt" | cut -c1-16)
mkdir -p "$cache"
if [ ! -f "$stamp" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
  touch "$stamp"
fi
if [ ! -d "$cache/suites/matcher" ] || [ ! -d "$cache/suites/patterns" ]; then
  rm -rf "$cache/sdists" "$cache/suites"
  mkdir -p "$cache/sdists" "$cache/suites"
  "$venv/bin/pip" download -q --no-deps --no-binary :all: -d "$cache/sdists" \
    stix2-matcher==3.0.0 stix2-patterns==2.1.2
  for sdist in "$cache"/sdists/*.tar.gz; do tar -xzf "$sdist" -C "$cache/sdists"; done
  cp -r "$cache/sdists/stix2-matcher-3.0.0/stix2matcher/test" "$cache/suites/matcher"
  cp -r "$cache/sdists/stix2_patterns-2.1.2/stix2patterns/test" "$cache/suites/patterns"
fi
[ "${1:-}" != --setup ] || exit 0
: "${ENGINE_CMD:?set ENGINE_CMD to the engine command, e.g. \"\$PWD/target/release/detente pattern\"}"
cd "$cache/suites"
[ $# -gt 0 ] || set -- matcher patterns
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" -m pytest -p detente_peer \
  -p no:cacheprovider -q -rfE "$@"
