#!/usr/bin/env bash
# detente lookalike against dnstwist itself (PyPI, used as a library: generating permutations
# does no DNS lookups): every permutation of the protected election domains that is not a
# registered benign domain (vendored top-10k lists) or protected itself is detected, with
# dnstwist's fuzzer name as technique; numbers per fuzzer. Then the generator round trip.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-release -p detente >/dev/null
bin=target/release/detente
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
data=crates/detente-lookalike/data
"$py" scripts/lookalike_dnstwist.py --detente "$bin" \
  --protected testdata/lookalike/election-domains.txt \
  --words "$data/words.dict" --tlds "$data/tlds.dict" \
  --benign testdata/real/misp-warninglists/lists/{cisco_top10k,cloudflare-top10k,tranco10k}/list.json
# dnstwist's own list output (offline) and ours have the same shape: one name per line.
"$py" -m dnstwist --format list --dictionary "$data/words.dict" --tld "$data/tlds.dict" sos.ca.gov \
  2>/dev/null | grep -vxF sos.ca.gov > target/dnstwist-sos.txt
test -s target/dnstwist-sos.txt
printf 'sos.ca.gov\n' > target/lookalike-protected.txt
set +e
"$bin" lookalike --protected target/lookalike-protected.txt --names target/dnstwist-sos.txt \
  --output target/dnstwist-sos.ndjson 2>/dev/null
rc=$?
set -e
[ "$rc" = 1 ] || { echo "70-lookalike-dnstwist: expected exit 1 (findings), got $rc"; exit 1; }
want=$(wc -l < target/dnstwist-sos.txt)
got=$(wc -l < target/dnstwist-sos.ndjson)
[ "$want" = "$got" ] || { echo "70-lookalike-dnstwist: list: $got of $want found"; exit 1; }
echo "70-lookalike-dnstwist: ok"
