#!/usr/bin/env bash
# Look-alike classification speed: names per second on one core with 1,000 protected domains
# (the 20 election domains plus the first 980 names of the Cloudflare top-10k list), over the
# Cisco and Tranco top-10k lists (benign) mixed with generated look-alikes (1 in 10); then the
# same names through `detente lookalike --names` end to end (reading, NDJSON writing included).
#
#   bench/lookalike.sh [--baseline REV]
#
# Rates are by the classifying thread's CPU time (names/s per core: on a shared machine the wall
# clock also counts other processes' turns), printed with the load average. When valgrind is
# installed, instructions per name are counted too (callgrind, one pass over 21,869 names minus
# the start-up): a count repeatable whatever the load. `--baseline REV` builds the classifier of
# git revision REV (e.g. `main`) into its own target directory and measures it the same way, in
# turns with this tree's, and prints both side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=
case "${1:-}" in
  --baseline) baseline=${2:?--baseline needs a git revision} ;;
  '') ;;
  *) echo "usage: bench/lookalike.sh [--baseline REV]" >&2; exit 2 ;;
esac
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
# 20,000 benign + 2,000 look-alikes (one.txt), repeated to 220,000 names.
cat "$work/benign.txt" "$work/gen.txt" > "$work/one.txt"
for _ in $(seq 10); do cat "$work/one.txt"; done > "$work/names.txt"

declare -A cmd=([current]=target/release/examples/classify_bench)
labels=(current)
if [ -n "$baseline" ]; then
  # The baseline's sources as committed (test data left out), built apart from this tree's.
  src=$work/baseline-src
  rm -rf "$src"
  mkdir -p "$src"
  git archive "$baseline" -- . ':!testdata' | tar -x -C "$src"
  cargo build --quiet --release --locked --manifest-path "$src/Cargo.toml" \
    --target-dir "$work/baseline-target" -p detente-lookalike --example classify_bench >/dev/null
  cmd[baseline]=$work/baseline-target/release/examples/classify_bench
  labels=(baseline current)
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) cores; load average before: $(load)"
declare -A rates findings instructions
# Two turns each, alternating, so a change of load hits both alike; the better turn counts.
for turn in 1 2; do
  for l in "${labels[@]}"; do
    out=$("${cmd[$l]}" "$work/protected.txt" "$work/names.txt" 10)
    echo "$l, turn $turn: $out" | sed '2,$s/^/  /'
    r=$(sed -n 's/.*CPU time.*: \([0-9]*\) names\/s per core.*/\1/p' <<< "$out")
    [ -n "$r" ] && [ "${r}" -gt "${rates[$l]:-0}" ] && rates[$l]=$r
    findings[$l]=$(sed -n 's/.* \([0-9]*\) findings per round/\1/p' <<< "$out")
  done
done
if command -v valgrind >/dev/null; then
  n=$(wc -l < "$work/one.txt")
  ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  }
  for l in "${labels[@]}"; do
    # One round minus none: the warm-up pass and the index build cancel out.
    a=$(ir "${cmd[$l]}" "$work/protected.txt" "$work/one.txt" 0)
    b=$(ir "${cmd[$l]}" "$work/protected.txt" "$work/one.txt" 1)
    instructions[$l]=$(( (b - a) / n ))
  done
fi
echo "load average after the classifier runs: $(load)"
# One row of the table: a title, then the named array's value for each version (or $3).
row() {
  local -n values=$2
  printf '%-34s' "$1"
  for l in "${labels[@]}"; do printf '%16s' "${values[$l]:-$3}"; done
  echo
}
declare -A heads
for l in "${labels[@]}"; do heads[$l]=$l; done
row '' heads ''
row 'names/s per core (CPU time)' rates '?'
row 'instructions per name (callgrind)' instructions 'n/a'
row 'findings per round' findings '?'

start=$(date +%s.%N)
set +e
RAYON_NUM_THREADS=1 "$bin" lookalike --protected "$work/protected.txt" --names "$work/names.txt" --output "$work/found.ndjson"
set -e
end=$(date +%s.%N)
n=$(wc -l < "$work/names.txt")
python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'detente lookalike --names end to end: {n} names in {b-a:.2f} s: {n/(b-a):.0f} names/s')" "$n" "$start" "$end"
echo "findings: $(wc -l < "$work/found.ndjson"); load average after: $(load)"
