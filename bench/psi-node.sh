#!/usr/bin/env bash
# PSI against a running node: what node mode adds to the file mode of bench/psi.sh.
#
#   bench/psi-node.sh [N]        (default: 100000)
#
# Starts `detente serve` on a fresh data directory, pushes N domain indicators to a collection,
# gives a member the psi grant, then runs `detente psi query --collection` with N items of
# which 10% are shared, in intersection and count-only mode, and the same sets in file mode
# (`detente psi serve` / `psi query`) for comparison. Prints each query's summary line and
# wall time, and the node's audit table. Everything generated goes to target/psi-node-bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
work=target/psi-node-bench/$n
rm -rf "$work" && mkdir -p "$work"

cargo build --release -p detente --locked
bin=$PWD/target/release/detente

python3 - "$n" "$work" <<'EOF'
import json, sys, uuid
n, work = int(sys.argv[1]), sys.argv[2]
objs = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=i + 1, version=4)}",
         "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
         "pattern": f"[domain-name:value = 'srv{i}.bad.example']", "pattern_type": "stix",
         "valid_from": "2026-01-01T00:00:00Z"} for i in range(n)]
json.dump({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": objs},
          open(f"{work}/bundle.json", "w"))
with open(f"{work}/querier.txt", "w") as f:
    for i in range(n):
        f.write(f"srv{i * 10}.bad.example\n" if i < n // 10 else f"cli{i}.other.example\n")
with open(f"{work}/answerer.txt", "w") as f:
    for i in range(n):
        f.write(f"srv{i}.bad.example\n")
EOF

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
"$bin" serve --data "$work/data" --listen 127.0.0.1:0 --psi-budget-items 0 \
  >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
until grep -q '^listening on ' "$work/serve.err"; do sleep 0.2; done
node="http://$(sed -n 's/^listening on //p' "$work/serve.err")"
until curl -sf "$node/healthz" >/dev/null; do sleep 0.2; done
coll=$("$bin" collection add --title bench --data "$work/data" 2>/dev/null | tail -1)
secret=$("$bin" member add peer --role reader --data "$work/data" 2>/dev/null | tail -1)
"$bin" collection grant "$coll" peer psi --data "$work/data"
"$bin" push "$work/bundle.json" --url "$node/api/" --collection "$coll" \
  --credentials "$work/data/admin.credentials" --batch 5000 2>&1 | tail -1

echo "machine: $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in "" --count-only; do
  echo "node mode ${mode:-intersection}:"
  /usr/bin/time -f "  wall %e s, querier CPU %U s user" "$bin" psi query --peer "$node" \
    --collection "$coll" --items "$work/querier.txt" --user peer --secret "$secret" $mode \
    --output "$work/node-out.txt" 2>&1 | sed 's/^/  /'
done

"$bin" psi serve --items "$work/answerer.txt" --listen 127.0.0.1:0 >"$work/psi-serve.out" 2>/dev/null &
pids+=($!)
until grep -q '^listening on ' "$work/psi-serve.out"; do sleep 0.2; done
peer=$(sed -n 's/^listening on //p' "$work/psi-serve.out")
echo "file mode intersection:"
/usr/bin/time -f "  wall %e s, querier CPU %U s user" "$bin" psi query --peer "$peer" \
  --items "$work/querier.txt" --output "$work/file-out.txt" 2>&1 | sed 's/^/  /'
"$bin" psi query --peer "$node" --collection "$coll" --items "$work/querier.txt" \
  --user peer --secret "$secret" --output "$work/node-out.txt" 2>/dev/null
cmp <(sort "$work/node-out.txt") <(sort "$work/file-out.txt") && echo "node and file mode agree"
echo "answering node's audit table:"
"$bin" psi audit --data "$work/data" | column -t -s $'\t'
