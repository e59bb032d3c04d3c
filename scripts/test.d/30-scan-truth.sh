#!/usr/bin/env bash
# detente scan against the ground truth of bench/gen/scan_workload.py: exactly the rows of
# truth.tsv, no more, no less, with the STIX bundle and with the Zeek intel file; then the same
# hits from standard input, gzip and another thread count.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-release -p detente >/dev/null
bin=target/release/detente
work=target/scan-truth
rm -rf "$work" && mkdir -p "$work"
python3 bench/gen/scan_workload.py --seed 7 --bytes 6000000 --hit-rate 0.02 --out "$work/wl" 2>/dev/null
"$bin" scan --indicators "$work/wl/indicators.stix.json" --output "$work/hits.ndjson" "$work/wl/logs"
python3 scripts/compare_truth.py "$work/wl/truth.tsv" "$work/hits.ndjson"
"$bin" scan --indicators "$work/wl/indicators.intel" --output "$work/hits.ndjson" "$work/wl/logs"
python3 scripts/compare_truth.py "$work/wl/truth.tsv" "$work/hits.ndjson" --no-scheme
# Same hits from standard input, gzip and a different rayon thread count.
gzip -c "$work/wl/logs/dns.log" > "$work/dns.log.gz"
RAYON_NUM_THREADS=1 "$bin" scan --indicators "$work/wl/indicators.stix.json" - < "$work/wl/logs/dns.log" | cut -d, -f2- | sort > "$work/a"
"$bin" scan --indicators "$work/wl/indicators.stix.json" "$work/dns.log.gz" | cut -d, -f2- | sort > "$work/b"
cmp "$work/a" "$work/b"
test -s "$work/a"
echo "30-scan-truth: ok"
