#!/usr/bin/env bash
# PSI benchmark, side by side with OpenMined PSI in the same run.
#
#   bench/psi.sh [N ...]        (default: 100000 1000000)
#
# For each N, generates N × N items with 10% overlap (bench/gen/psi_sets.py, the same sets the
# peer uses), runs `detente psi serve` and `detente psi query` as two processes over loopback
# HTTP, checks the intersection against the generator's, and records the query's wall time (from
# reading its file to writing the intersection), both processes' CPU time and the message bytes
# on the wire. Then runs bench/peers/openmined_psi.py on the same sizes with --budget-s 1800 and
# prints the ratios against its total_wall_s. Everything generated goes to target/psi-bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
work=target/psi-bench
mkdir -p "$work"

cargo build --release -p detente --locked
bin=target/release/detente

if [ ! -x "$work/venv/bin/python" ] || ! "$work/venv/bin/python" -c 'import private_set_intersection' 2>/dev/null; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q openmined-psi==2.0.6
fi
py="$work/venv/bin/python"

echo "machine: $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${sizes[@]}"; do
  server="$work/server-$n.txt" client="$work/client-$n.txt"
  common="$work/common-$n.txt"
  if [ ! -s "$server" ] || [ ! -s "$client" ] || [ ! -s "$common" ]; then
    python3 bench/gen/psi_sets.py "$n" --server "$server" --client "$client" --common "$common" >/dev/null
  fi
  /usr/bin/time -f '%e %U %S' -o "$work/serve-$n.time" \
    "$bin" psi serve --items "$server" --listen 127.0.0.1:0 --max-items "$n" \
    > "$work/serve-$n.out" 2> "$work/serve-$n.err" &
  serve_pid=$!
  for _ in $(seq 600); do
    grep -q '^listening on ' "$work/serve-$n.out" 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on //p' "$work/serve-$n.out")
  [ -n "$url" ] || { echo "serve did not start" >&2; kill "$serve_pid"; exit 1; }
  /usr/bin/time -f '%e %U %S' -o "$work/query-$n.time" \
    "$bin" psi query --items "$client" --peer "$url" --output "$work/result-$n.txt" \
    2> "$work/query-$n.err"
  # GNU time ignores SIGINT itself: stop the server it runs (its only child).
  kill -INT "$(pgrep -P "$serve_pid")"
  wait "$serve_pid" || true
  found=$(wc -l < "$work/result-$n.txt")
  LC_ALL=C sort "$work/result-$n.txt" | cmp -s - "$common" || { echo "N=$n: intersection differs from $common" >&2; exit 1; }
  read -r q_wall q_user q_sys < "$work/query-$n.time"
  read -r _ s_user s_sys < "$work/serve-$n.time"
  sent=$(sed -n 's/.*sent \([0-9]*\) bytes.*/\1/p' "$work/query-$n.err")
  received=$(sed -n 's/.*received \([0-9]*\) bytes.*/\1/p' "$work/query-$n.err")
  # awk, not bc: bc prints ".96" for numbers below one, which is not JSON.
  awk -v n="$n" -v found="$found" -v wall="$q_wall" -v cpu="$q_user $q_sys $s_user $s_sys" \
    -v bytes=$((sent + received)) 'BEGIN { split(cpu, c, " ");
      printf "{\"n\": %d, \"found\": %d, \"wall_s\": %.2f, \"cpu_s\": %.2f, \"bytes\": %d, \"bytes_per_item\": %.2f}\n",
        n, found, wall, c[1] + c[2] + c[3] + c[4], bytes, bytes / n }' \
    | tee "$work/detente-$n.json"
done

echo "running OpenMined PSI (bench/peers/openmined_psi.py ${sizes[*]} --budget-s 1800)"
"$py" bench/peers/openmined_psi.py "${sizes[@]}" --budget-s 1800 --out "$work/openmined.json" \
  > "$work/openmined.log"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$py" - "$work" "${sizes[@]}" <<'EOF'
import json, sys
work, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
om = {r["n_client"]: r for r in json.load(open(f"{work}/openmined.json"))}
print(f"{'N':>9} | {'detente wall s':>14} {'cpu s':>7} {'B/item':>7} {'found':>7} | "
      f"{'OpenMined wall s':>16} {'B/item':>7} {'found':>7} | {'speed-up':>8} {'bytes':>6}")
for n in sizes:
    d = json.load(open(f"{work}/detente-{n}.json"))
    o = om.get(n, {})
    if o.get("skipped"):
        o_wall, o_b, o_found, note = o["extrapolated_total_wall_s"], float("nan"), "-", " (OpenMined extrapolated)"
    else:
        o_wall, o_b, o_found, note = o["total_wall_s"], o["bytes_per_item"]["total"], o.get("intersection_found"), ""
    ratio_b = d["bytes_per_item"] / o_b if o_b == o_b else float("nan")
    print(f"{n:>9} | {d['wall_s']:>14.2f} {d['cpu_s']:>7.1f} {d['bytes_per_item']:>7.2f} {d['found']:>7} | "
          f"{o_wall:>16.2f} {o_b:>7.2f} {o_found!s:>7} | {o_wall / d['wall_s']:>7.2f}x {ratio_b:>6.3f}{note}")
EOF
