#!/usr/bin/env bash
# Look-alike classification speed: names per second on one core with 1,000 protected domains
# (the 20 election domains plus the first 980 names of the Cloudflare top-10k list), over the
# Cisco and Tranco top-10k lists (benign) mixed with generated look-alikes (1 in 10); then the
# same names through `detente lookalike --names` end to end (reading, NDJSON writing included).
# Prints the machine's load average with the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-lookalike
mkdir -p "$work"
lists=testdata/real/misp-warninglists/lists
json_names() { python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["list"]))' "$1"; }
grep -v '^#' testdata/lookalike/election-domains.txt | grep . > "$work/protected.txt"
json_names "$lists/cloudflare-top10k/list.json" | grep -vxFf "$work/protected.txt" | sed -n 1,980p >> "$work/protected.txt"
cargo build --release --locked -p detente -p detente-lookalike --example classify_bench >/dev/null
bin=target/release/detente
{ json_names "$lists/cisco_top10k/list.json"; json_names "$lists/tranco10k/list.json"; } > "$work/benign.txt"
: > "$work/gen.txt"
for d in sos.ca.gov vote.org fvap.gov elections.ny.gov; do
  "$bin" lookalike generate "$d" | awk 'NR % 3 == 0' | sed -n 1,500p >> "$work/gen.txt"
done
# 20,000 benign + 2,000 look-alikes, repeated to 220,000 names.
for _ in $(seq 10); do cat "$work/benign.txt" "$work/gen.txt"; done > "$work/names.txt"
echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/examples/classify_bench "$work/protected.txt" "$work/names.txt" 10
start=$(date +%s.%N)
set +e
RAYON_NUM_THREADS=1 "$bin" lookalike --protected "$work/protected.txt" --names "$work/names.txt" --output "$work/found.ndjson"
set -e
end=$(date +%s.%N)
n=$(wc -l < "$work/names.txt")
python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'detente lookalike --names end to end: {n} names in {b-a:.2f} s: {n/(b-a):.0f} names/s')" "$n" "$start" "$end"
echo "findings: $(wc -l < "$work/found.ndjson"); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
