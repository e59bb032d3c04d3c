#!/usr/bin/env bash
# What `detente scan --protected` costs: the bench/gen/scan_workload.py workload scanned with
# and without 1,000 protected domains (the 20 election domains plus the first 980 names of the
# Cloudflare top-10k list, as bench/lookalike.sh), side by side in one run: wall and CPU time,
# GB/s, peak RSS, look-alikes found, and the cost of --protected in throughput.
#   bench/scan-protected.sh                 # 1 GB workload in target/bench/workload
#   BYTES=200000000 bench/scan-protected.sh # smaller
#   WORKLOAD=/tmp/w bench/scan-protected.sh # the workload elsewhere (generated there if absent)
#   BASE=path/to/detente bench/scan-protected.sh # also another build with --protected (a row
#                                           # "base"), e.g. main's binary copied aside
# Off and on run in turns, three times each, so a change of load on a shared machine hits both
# alike; each row is the turn with the least wall time. Loading (indicators and protected
# domains) is part of the wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${BYTES:-1000000000}
if [ "$bytes" = 1000000000 ]; then def=target/bench/workload; else def=target/bench/workload-$bytes; fi
work=${WORKLOAD:-$def}
out=target/bench/scan-protected
mkdir -p "$out"
if [ ! -f "$work/summary.json" ]; then
  echo "generating $bytes-byte workload in $work ..." >&2
  python3 bench/gen/scan_workload.py --bytes "$bytes" --out "$work" 2>/dev/null
fi
scripts/build-release -p detente >/dev/null 2>&1 # DETENTE_PREBUILT=1: use target/release/detente as built
bin=target/release/detente
lists=testdata/real/misp-warninglists/lists
grep -v '^#' testdata/lookalike/election-domains.txt | grep . > "$out/protected.txt"
python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["list"]))' \
  "$lists/cloudflare-top10k/list.json" | grep -vxFf "$out/protected.txt" | sed -n 1,980p >> "$out/protected.txt"
size=$(cat "$work"/logs/* | wc -c)
cat "$work"/logs/* >/dev/null # warm the page cache for both runs

measure() { # name, command...: runs it under /usr/bin/time -v, prints "wall user sys rss_kb"
  local name=$1
  shift
  /usr/bin/time -v "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || true
  local wall user sys rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$out/$name.stderr")
  user=$(awk -F': ' '/User time/ {print $2}' "$out/$name.stderr")
  sys=$(awk -F': ' '/System time/ {print $2}' "$out/$name.stderr")
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out/$name.stderr")
  echo "$wall $user $sys $rss"
}

echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg) (shared with other builders)"
declare -A best
modes=(off on)
[ -n "${BASE:-}" ] && modes+=(base)
for turn in 1 2 3; do
  for mode in "${modes[@]}"; do
    b=$bin extra=(--protected "$out/protected.txt")
    [ "$mode" = off ] && extra=()
    [ "$mode" = base ] && b=$BASE
    r=$(measure "$mode" "$b" scan --indicators "$work/indicators.stix.json" "${extra[@]}" "$work/logs")
    echo "turn $turn, $mode: wall user sys rss_kb = $r"
    read -r w _ <<< "$r"
    read -r bw _ <<< "${best[$mode]:-999999 0}"
    if awk -v a="$w" -v b="$bw" 'BEGIN {exit !(a < b)}'; then best[$mode]=$r; fi
    if [ "$mode" != off ]; then
      grep -c '"kind":"lookalike"' "$out/$mode.stdout" > "$out/$mode.lookalikes" || true
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
hits_off=$(grep -vc '"kind":"lookalike"' "$out/off.stdout" || true)
for mode in "${modes[@]:1}"; do
  hits=$(grep -vc '"kind":"lookalike"' "$out/$mode.stdout" || true)
  [ "$hits_off" = "$hits" ] || echo "INDICATOR HITS DIFFER: $hits_off without, $hits with --protected ($mode)"
done
if [ -n "${BASE:-}" ]; then
  if cmp -s <(grep '"kind":"lookalike"' "$out/on.stdout") <(grep '"kind":"lookalike"' "$out/base.stdout"); then
    echo "look-alike findings of on and base: identical, line for line"
  else
    echo "LOOK-ALIKE FINDINGS DIFFER between on and base"
  fi
fi
echo "log bytes: $size ($(awk -v s="$size" 'BEGIN {printf "%.2f", s/1e9}') GB); $hits_off indicator hits; $(wc -l < "$out/protected.txt") protected domains"
printf "%-6s %8s %8s %8s %10s %12s %11s %8s %8s\n" mode "wall s" "cpu s" "GB/s" "GB/cpu-s" "peak RSS MB" look-alikes "cost %" "+cpu %"
read -r fw fu fs _ <<< "${best[off]}"
for mode in "${modes[@]}"; do
  read -r w u s r <<< "${best[$mode]}"
  la=-
  [ "$mode" != off ] && la=$(cat "$out/$mode.lookalikes")
  # Cost: throughput lost against off (wall), and CPU time added.
  awk -v m="$mode" -v size="$size" -v w="$w" -v u="$u" -v s="$s" -v r="$r" -v la="$la" -v fw="$fw" -v fc="$(awk -v a="$fu" -v b="$fs" 'BEGIN {print a+b}')" 'BEGIN {
    printf "%-6s %8.2f %8.2f %8.3f %10.3f %12.1f %11s %8.1f %8.1f\n", m, w, u+s, size/1e9/w, size/1e9/(u+s), r/1024, la, 100*(1-fw/w), 100*((u+s)/fc-1)
  }'
done
