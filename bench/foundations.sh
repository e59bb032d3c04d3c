#!/usr/bin/env bash
# Before/after of the three hot paths that issue 11's refactoring moved (one observable crate,
# one matching semantics, the caller's thread pool): scan, pattern match-all and PSI, run by
# this tree's binary and by another build BASE in alternating turns, side by side in one run.
#
#   bench/foundations.sh BASE [ROUNDS]
#     BASE    another detente binary (e.g. built from e855a07, before the refactoring, into its
#             own worktree: `git worktree add /tmp/before e855a07 && cargo build --release`)
#     ROUNDS  turns per binary and workload (default 3); each row keeps the turn with the least
#             CPU time, the figure a shared machine disturbs least
#
# Workloads (generated once into target/, as the other benchmarks do): the bench/scan.sh logs
# (BYTES, default 1 GB) with its STIX indicators; the bench/patterns.sh 10k x 10k patterns and
# observations; the bench/psi.sh sets of PSI_N items (default 100,000). Each row also says
# whether both binaries produced the same result (scan: each hit's file, line and indicator id;
# patterns: the matched ids; PSI: the intersection).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/foundations.sh BASE [ROUNDS]}
rounds=${2:-3}
[ -x "$base" ] || { echo "BASE $base is not an executable" >&2; exit 2; }
bytes=${BYTES:-1000000000}
psi_n=${PSI_N:-100000}
scripts/build-release -p detente >/dev/null 2>&1 # DETENTE_PREBUILT=1: use target/release/detente as built
cur=target/release/detente
out=target/bench-foundations
mkdir -p "$out"

if [ "$bytes" = 1000000000 ]; then scan_work=target/bench/workload; else scan_work=target/bench/workload-$bytes; fi
if [ ! -f "$scan_work/summary.json" ]; then
  echo "generating $bytes-byte scan workload in $scan_work ..." >&2
  python3 bench/gen/scan_workload.py --bytes "$bytes" --out "$scan_work" >/dev/null 2>&1
fi
pat=target/bench-patterns/data
if [ ! -f "$pat/manifest.json" ]; then
  echo "generating the pattern workload in $pat ..." >&2
  python3 bench/gen/pattern_workload.py --out "$pat" >/dev/null
fi
psi=target/psi-bench
mkdir -p "$psi"
if [ ! -s "$psi/server-$psi_n.txt" ] || [ ! -s "$psi/client-$psi_n.txt" ] || [ ! -s "$psi/common-$psi_n.txt" ]; then
  python3 bench/gen/psi_sets.py "$psi_n" --server "$psi/server-$psi_n.txt" \
    --client "$psi/client-$psi_n.txt" --common "$psi/common-$psi_n.txt" >/dev/null
fi
cat "$scan_work"/logs/* >/dev/null # page cache warm for every turn alike

# Each run_* prints "cpu_s wall_s" and leaves its result in $out/<label>.<workload>.result.
run_scan() { # label bin
  /usr/bin/time -f '%e %U %S' -o "$out/t" "$2" scan --indicators "$scan_work/indicators.stix.json" \
    "$scan_work/logs" > "$out/$1.scan.out" 2> "$out/$1.scan.err" || [ $? = 1 ] # 1: hits found
  # file, line and indicator id: stable across versions that add fields to a hit
  python3 -c 'import json,sys; print(sorted((h["file"], h["line"], h["indicator_id"]) for h in map(json.loads, open(sys.argv[1]))))' \
    "$out/$1.scan.out" | md5sum | cut -d' ' -f1 > "$out/$1.scan.result"
  awk '{ printf "%.2f %.2f\n", $2 + $3, $1 }' "$out/t"
}
run_patterns() {
  /usr/bin/time -f '%e %U %S' -o "$out/t" "$2" pattern match-all --indicators "$pat/indicators.jsonl" \
    --observations "$pat/observations.jsonl" --output "$out/$1.patterns.out" 2> "$out/$1.patterns.err"
  python3 -c 'import json,sys; print(sorted(r["id"] for r in map(json.loads, open(sys.argv[1])) if r["matched"] is True))' \
    "$out/$1.patterns.out" | md5sum | cut -d' ' -f1 > "$out/$1.patterns.result"
  awk '{ printf "%.2f %.2f\n", $2 + $3, $1 }' "$out/t"
}
run_psi() { # both processes' CPU; wall is the query's
  /usr/bin/time -f '%e %U %S' -o "$out/ts" "$2" psi serve --items "$psi/server-$psi_n.txt" \
    --listen 127.0.0.1:0 --max-items "$psi_n" > "$out/serve.out" 2> "$out/serve.err" &
  local spid=$! url=
  for _ in $(seq 600); do
    url=$(sed -n 's/^listening on //p' "$out/serve.out" 2>/dev/null)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "$1: psi serve did not start: $(cat "$out/serve.err")" >&2; kill "$spid"; exit 1; }
  /usr/bin/time -f '%e %U %S' -o "$out/tq" "$2" psi query --items "$psi/client-$psi_n.txt" \
    --peer "$url" --output "$out/$1.psi.out" 2> "$out/$1.psi.err"
  kill -INT "$(pgrep -P "$spid")" # GNU time ignores SIGINT itself: stop its child
  wait "$spid" || true
  LC_ALL=C sort "$out/$1.psi.out" | md5sum | cut -d' ' -f1 > "$out/$1.psi.result"
  cmp -s <(LC_ALL=C sort "$out/$1.psi.out") "$psi/common-$psi_n.txt" || echo "$1: PSI intersection differs from the generator's" >&2
  read -r qw qu qs < "$out/tq"
  read -r _ su ss < "$out/ts"
  awk -v w="$qw" -v c="$qu $qs $su $ss" 'BEGIN { split(c, x, " "); printf "%.2f %.2f\n", x[1] + x[2] + x[3] + x[4], w }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best_cpu best_wall
for w in scan patterns psi; do
  for r in $(seq "$rounds"); do
    for label in base current; do
      bin=$cur; [ "$label" = base ] && bin=$base
      read -r c t < <("run_$w" "$label" "$bin")
      echo "$w, turn $r, $label: cpu ${c} s, wall ${t} s" >&2
      k="$w.$label"
      if [ -z "${best_cpu[$k]:-}" ] || awk -v a="$c" -v b="${best_cpu[$k]}" 'BEGIN { exit !(a < b) }'; then
        best_cpu[$k]=$c best_wall[$k]=$t
      fi
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %10s %10s %10s %10s %12s %8s\n' workload "base cpu" "base wall" "cur cpu" "cur wall" "cpu base/cur" "same"
for w in scan patterns psi; do
  same=no
  cmp -s "$out/base.$w.result" "$out/current.$w.result" && same=yes
  awk -v w="$w" -v bc="${best_cpu[$w.base]}" -v bw="${best_wall[$w.base]}" -v cc="${best_cpu[$w.current]}" \
    -v cw="${best_wall[$w.current]}" -v s="$same" \
    'BEGIN { printf "%-9s %10.2f %10.2f %10.2f %10.2f %12.2f %8s\n", w, bc, bw, cc, cw, bc / cc, s }'
done
