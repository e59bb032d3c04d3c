#!/usr/bin/env bash
# The test data in testdata/ is what its PROVENANCE says: every file matches testdata/SHA256SUMS,
# and every file there is listed (refresh the list with the command in testdata/README.md).
set -euo pipefail
cd "$(dirname "$0")/../../testdata"
sha256sum --quiet --strict --check SHA256SUMS
listed=$(cut -c67- SHA256SUMS | LC_ALL=C sort)
present=$(find . -type f ! -name SHA256SUMS | cut -c3- | LC_ALL=C sort)
if [ "$listed" != "$present" ]; then
  diff <(echo "$listed") <(echo "$present") >&2 || true
  echo "testdata/SHA256SUMS does not list exactly the files present" >&2
  exit 1
fi
echo "testdata: $(echo "$present" | wc -l) files match SHA256SUMS"
