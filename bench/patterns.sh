#!/usr/bin/env bash
# Benchmark: `detente pattern match-all` on the 10k x 10k workload of
# bench/gen/pattern_workload.py (default seed), side by side with the OASIS reference
# stix2-matcher 3.0.0 on a 100-pattern sample, checking that both agree on it and that detente
# matches exactly the planted indicators (plants.jsonl).
# Also times compiling 1,000,000 simple indicators (target: <= 5 s, <= 1 GiB).
#
#   bench/patterns.sh            # everything lands in target/bench-patterns/
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/bench-patterns
DATA=$OUT/data
mkdir -p "$OUT"
if [ ! -f "$DATA/manifest.json" ]; then
  python3 bench/gen/pattern_workload.py --out "$DATA" >/dev/null
fi
cargo build --release -p detente --locked
BIN=target/release/detente

echo "== detente pattern match-all: 10k patterns x 10k observations"
/usr/bin/time -f "wall %e s, max RSS %M KiB" \
  "$BIN" pattern match-all --indicators "$DATA/indicators.jsonl" \
  --observations "$DATA/observations.jsonl" --output "$OUT/detente.jsonl" 2>"$OUT/detente-full.err" \
  || { cat "$OUT/detente-full.err"; exit 1; }
cat "$OUT/detente-full.err"
python3 - "$DATA" "$OUT" <<'PYEOF'
import json, sys
data, out = sys.argv[1], sys.argv[2]
planted = {json.loads(l)["indicator"] for l in open(data + "/plants.jsonl")}
matched = {r["id"] for r in map(json.loads, open(out + "/detente.jsonl")) if r["matched"] is True}
print("truth: %d planted indicators, detente matched %d, missing %d, extra %d"
      % (len(planted), len(matched), len(planted - matched), len(matched - planted)))
sys.exit(1 if planted != matched else 0)
PYEOF

# The reference, from PyPI, in the peer suite's virtualenv (same pins).
CACHE=${PEER_CACHE:-$HOME/.cache/detente-peer-tests}
PY=$CACHE/venv/bin/python
stamp=$CACHE/venv/.installed-$(sha256sum tests/pattern-peer/requirements.txt | cut -c1-16)
if [ ! -f "$stamp" ]; then
  rm -rf "$CACHE/venv"
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q -r tests/pattern-peer/requirements.txt
  touch "$stamp"
fi

echo "== stix2-matcher 3.0.0 on a 100-pattern sample (50 planted + 50 others) x 10k observations"
"$PY" - "$DATA" "$OUT" <<'PYEOF'
import json, sys, time
from stix2matcher.matcher import match
data, out = sys.argv[1], sys.argv[2]
inds = [json.loads(l) for l in open(data + "/indicators.jsonl")]
sample = [i for i in inds if i["planted"]][:50] + [i for i in inds if not i["planted"]][::200][:50]
bundle = json.load(open(data + "/observations.bundle.json"))
t0 = time.process_time()
res = []
for ind in sample:
    try:
        m = bool(match(ind["pattern"], [bundle], stix_version="2.1"))
    except Exception as e:  # noqa: BLE001 - report, like detente's error lines
        m = "error: %s" % e
    res.append({"id": ind["id"], "matched": m})
cpu = time.process_time() - t0
with open(out + "/reference-sample.jsonl", "w") as f:
    for r in res:
        f.write(json.dumps(r) + "\n")
print("stix2-matcher: %d patterns x 10000 observations: %.1f CPU-s (%.3f s/pattern)" % (len(sample), cpu, cpu / len(sample)))
with open(out + "/reference-cpu.txt", "w") as f:
    f.write("%f %d\n" % (cpu, len(sample)))
PYEOF

echo "== detente on the same sample"
python3 - "$DATA" "$OUT" <<'PYEOF'
import json, sys
data, out = sys.argv[1], sys.argv[2]
inds = [json.loads(l) for l in open(data + "/indicators.jsonl")]
sample = [i for i in inds if i["planted"]][:50] + [i for i in inds if not i["planted"]][::200][:50]
open(out + "/sample.jsonl", "w").writelines(json.dumps(i) + "\n" for i in sample)
PYEOF
/usr/bin/time -f "sample: wall %e s, cpu %U+%S s" "$BIN" pattern match-all \
  --indicators "$OUT/sample.jsonl" --observations "$DATA/observations.jsonl" \
  --output "$OUT/detente-sample.jsonl" 2>"$OUT/detente-sample.err" || { cat "$OUT/detente-sample.err"; exit 1; }
cat "$OUT/detente-sample.err"

python3 - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
ref = [json.loads(l) for l in open(out + "/reference-sample.jsonl")]
full = {r["id"]: r["matched"] for r in map(json.loads, open(out + "/detente.jsonl"))}
samp = {r["id"]: r["matched"] for r in map(json.loads, open(out + "/detente-sample.jsonl"))}
bad = [r for r in ref if full.get(r["id"]) != r["matched"] or samp.get(r["id"]) != r["matched"]]
matched = sum(1 for r in ref if r["matched"] is True)
print("agreement on the sample: %d/%d identical (%d matched)" % (len(ref) - len(bad), len(ref), matched))
for r in bad[:10]:
    print("  DIFFERENT:", r["id"], "reference", r["matched"], "detente", full.get(r["id"]), samp.get(r["id"]))
cpu, n = open(out + "/reference-cpu.txt").read().split()
per_pattern = float(cpu) / int(n)
import re
m = re.search(r"compile \+ evaluate ([0-9.]+)s", open(out + "/detente-full.err").read())
ours = float(m.group(1))
wall = float(re.search(r"wall ([0-9.]+) s", open(out + "/detente-full.err").read()).group(1))
ref = per_pattern * 10000
print("reference extrapolated to 10k patterns x 10k observations: %.0f CPU-s" % ref)
print("detente 10k x 10k: %.3f s compile+evaluate (ratio %.0fx), %.2f s wall for the whole command incl. JSON loading (ratio %.0fx)"
      % (ours, ref / ours, wall, ref / wall))
sys.exit(1 if bad else 0)
PYEOF

echo "== compile 1,000,000 simple indicators"
python3 - "$OUT/million.jsonl" <<'PYEOF'
import json, sys, random
r = random.Random(1)
kinds = ["ipv4-addr:value = '%d.%d.%d.%d'", "domain-name:value = 'd%08x.example'",
         "file:hashes.'SHA-256' = '%064x'", "url:value = 'https://u%08x.example/p'"]
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        k = i % 4
        if k == 0:
            v = kinds[0] % (r.randrange(1, 224), r.randrange(256), r.randrange(256), r.randrange(256))
        elif k == 2:
            v = kinds[2] % r.getrandbits(256)
        else:
            v = kinds[k] % r.getrandbits(32)
        f.write(json.dumps({"id": "indicator--%d" % i, "pattern": "[%s]" % v}) + "\n")
PYEOF
head -1000 "$DATA/observations.jsonl" > "$OUT/obs-1k.jsonl"
/usr/bin/time -f "wall %e s, max RSS %M KiB" "$BIN" pattern match-all \
  --indicators "$OUT/million.jsonl" --observations "$OUT/obs-1k.jsonl" --output /dev/null
