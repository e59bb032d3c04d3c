#!/usr/bin/env bash
# detente scan vs ripgrep (`rg -F -c -f indicators.txt`) on the bench/gen/scan_workload.py
# workload, side by side in one run: throughput (indicator loading included), CPU time, peak
# RSS, and detente's agreement with truth.tsv.
#   bench/scan.sh                 # 1 GB workload in target/bench/workload (generated once)
#   BYTES=200000000 bench/scan.sh # smaller
#   BASE=path/to/detente bench/scan.sh  # also another build (a row "base", its truth checked
#                                 # too, and the ratios this build / base), e.g. main's binary
#                                 # copied aside
#   TURNS=4 bench/scan.sh         # detente (and base, alternating) four times, ripgrep once:
#                                 # a line per turn, the table from the median turn by wall time
# On a shared machine compare CPU seconds (GB per CPU-second): wall time follows the load.
# Peak RSS is the process's own memory: both tools read(2) the logs, so page-cache pages are
# not part of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${BYTES:-1000000000}
if [ "$bytes" = 1000000000 ]; then def=target/bench/workload; else def=target/bench/workload-$bytes; fi
work=${WORKLOAD:-$def}
out=target/bench
mkdir -p "$out"
if [ ! -f "$work/summary.json" ]; then
  echo "generating $bytes-byte workload in $work ..." >&2
  python3 bench/gen/scan_workload.py --bytes "$bytes" --out "$work" 2>/dev/null
fi
cargo build --release --locked -p detente >/dev/null 2>&1
rg=$(command -v rg || true)
if [ -z "$rg" ]; then
  cargo install --quiet --root target/ripgrep ripgrep
  rg=target/ripgrep/bin/rg
fi
size=$(cat "$work"/logs/* | wc -c)
cat "$work"/logs/* >/dev/null # warm the page cache for both tools

measure() { # name, command...: runs it under /usr/bin/time -v, prints "wall user sys rss_kb"
  local name=$1
  shift
  /usr/bin/time -v "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"
  local wall user sys rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out/$name.stderr")
  user=$(awk -F': ' '/User time/ {print $2}' "$out/$name.stderr")
  sys=$(awk -F': ' '/System time/ {print $2}' "$out/$name.stderr")
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out/$name.stderr")
  echo "$wall $user $sys $rss"
}

echo "machine: $(nproc) cores,$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 || true), load average before: $(cut -d' ' -f1-3 /proc/loadavg) (shared with other builders)"
turns=${TURNS:-1}
turn_line() { # "wall user sys": one turn's figures
  awk -v s="$size" '{printf "%.2f wall s, %.2f CPU s, %.3f GB/s", $1, $2+$3, s/1e9/$1}' <<<"$1"
}
: >"$out/turns.detente"
: >"$out/turns.base"
for t in $(seq 1 "$turns"); do
  if [ -n "${BASE:-}" ]; then
    read -r bw bu bs br < <(measure base "$BASE" scan --indicators "$work/indicators.stix.json" "$work/logs")
    echo "$bw $bu $bs $br" >>"$out/turns.base"
    python3 scripts/compare_truth.py "$work/truth.tsv" "$out/base.stdout" >/dev/null || echo "TRUTH MISMATCH (base, turn $t)"
  fi
  read -r dw du ds dr < <(measure detente target/release/detente scan --indicators "$work/indicators.stix.json" "$work/logs")
  echo "$dw $du $ds $dr" >>"$out/turns.detente"
  if [ "$turns" -gt 1 ]; then
    python3 scripts/compare_truth.py "$work/truth.tsv" "$out/detente.stdout" >/dev/null || echo "TRUTH MISMATCH (turn $t)"
    line=$(turn_line "$dw $du $ds")
    if [ -n "${BASE:-}" ]; then line="$line; base $(turn_line "$bw $bu $bs")"; fi
    echo "turn $t: detente $line ($(grep -o 'indicators loaded.* in [0-9.]* s' "$out/detente.stderr" | grep -o 'in [0-9.]* s$' | sed 's/^in /loading /'))"
  fi
done
if [ "$turns" -gt 1 ]; then
  # The median turn by wall time (the lower middle one for an even count).
  median() { sort -n "$1" | sed -n "$(( (turns + 1) / 2 ))p"; }
  read -r dw du ds dr < <(median "$out/turns.detente")
  if [ -n "${BASE:-}" ]; then read -r bw bu bs br < <(median "$out/turns.base"); fi
  echo "median of $turns turns below (by wall time)"
fi
read -r rw ru rs rr < <(measure rg "$rg" -F -c -f "$work/indicators.txt" "$work/logs" || true)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep '^detente scan' "$out/detente.stderr" || true
python3 scripts/compare_truth.py "$work/truth.tsv" "$out/detente.stdout" || echo "TRUTH MISMATCH"
if [ -n "${BASE:-}" ]; then
  echo "base:"
  grep '^detente scan' "$out/base.stderr" || true
  python3 scripts/compare_truth.py "$work/truth.tsv" "$out/base.stdout" || echo "TRUTH MISMATCH (base)"
fi
rg_lines=$(awk -F: '{s+=$NF} END {print s+0}' "$out/rg.stdout")
awk -v size="$size" -v dw="$dw" -v du="$du" -v ds="$ds" -v dr="$dr" -v rw="$rw" -v ru="$ru" -v rs="$rs" -v rr="$rr" -v rl="$rg_lines" 'BEGIN {
  printf "log bytes: %d (%.2f GB)\n", size, size/1e9
  printf "%-8s %8s %8s %10s %12s %12s %10s\n", "tool", "wall s", "cpu s", "GB/s", "GB/cpu-s", "peak RSS MB", "lines"
  printf "%-8s %8.2f %8.2f %10.3f %12.3f %12.1f %10s\n", "detente", dw, du+ds, size/1e9/dw, size/1e9/(du+ds), dr/1024, "-"
  printf "%-8s %8.2f %8.2f %10.3f %12.3f %12.1f %10d\n", "rg -F", rw, ru+rs, size/1e9/rw, size/1e9/(ru+rs), rr/1024, rl
  printf "speed-up detente/rg: %.1fx wall, %.1fx CPU\n", rw/dw, (ru+rs)/(du+ds)
}'
if [ -n "${BASE:-}" ]; then
  awk -v size="$size" -v dw="$dw" -v du="$du" -v ds="$ds" -v bw="$bw" -v bu="$bu" -v bs="$bs" -v br="$br" 'BEGIN {
    printf "%-8s %8.2f %8.2f %10.3f %12.3f %12.1f %10s\n", "base", bw, bu+bs, size/1e9/bw, size/1e9/(bu+bs), br/1024, "-"
    printf "detente/base: %.2fx wall, %.2fx CPU (above 1: this build is faster)\n", bw/dw, (bu+bs)/(du+ds)
  }'
fi
