#!/usr/bin/env python3
"""Deterministic STIX 2.1 pattern-matching workload: indicators, observations and planted hits.

    bench/gen/pattern_workload.py [--seed N] [--patterns 10000] [--observations 10000]
                                  [--hit-rate 0.02] --out DIR

Writes under DIR:
  indicators.jsonl          {"id", "category", "pattern", "planted"} one a line
  patterns.txt              the bare patterns, one a line
  observations.jsonl        one STIX 2.1 bundle a line: an observed-data object and the 1-3 SCOs
                            its object_refs name (ids unique across the workload)
  observations.bundle.json  all those objects in one bundle (the reference's cheapest input)
  plants.jsonl              the truth: {"indicator", "category", "observations": [indices]},
                            the observations built to satisfy that indicator
  manifest.json             parameters, counts per category, SHA-256 of every file

Pattern mix: 60% one equality on ipv4-addr:value, domain-name:value, url:value or
file:hashes.'SHA-256' ("eq"); 20% OR of 2-3 comparisons, inside one observation expression
("or-cmp", sometimes a hash OR a file name) or across observation expressions ("or-obs");
10% LIKE and MATCHES on domains and URLs ("like", "matches"); 10% observation operators and
qualifiers: AND of two observations ("and-obs"), FOLLOWEDBY, WITHIN, REPEATS, START/STOP
("startstop") and two comparisons joined by AND over a reference ("and-cmp-ref").

Indicator values and background values come from disjoint namespaces (indicators: public
addresses 45-99.x.x.x, random-label domains under .xyz/.top/.biz/.info/.ru; background:
10.0.0.0/8 and syllable domains under .com/.net/.org; random digests), so every match of a
planted indicator is one the generator built, and no other indicator matches by accident.
Every planted indicator must match (plants.jsonl); unplanted ones may not match anything.
Deterministic for a given seed and parameters (one random.Random, fixed epoch).
"""
import argparse
import datetime
import json
import os
import random
import uuid

from files import sha256_file  # beside this script

SYLLABLES = "ba de fi go hu ja ke li mo nu pa qi re so tu va we xi yo za ko lu me ni".split()
BACKGROUND_TLDS = ("com", "net", "org")
INDICATOR_TLDS = ("xyz", "top", "biz", "info", "ru")
LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
KINDS = ("ipv4", "domain", "url", "sha256")
EPOCH = datetime.datetime(2024, 6, 1)
DAY = 86400  # observations spread over one day


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def literal(s):
    return "'%s'" % s.replace("\\", "\\\\").replace("'", "\\'")


class Values:
    """Random values from the two namespaces; no value is handed out twice."""

    def __init__(self, rng):
        self.rng = rng
        self.taken = set()

    def fresh(self, draw):
        while True:
            v = draw()
            if v not in self.taken:
                self.taken.add(v)
                return v

    def id(self, kind):
        return "%s--%s" % (kind, uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def label(self, n):
        return "".join(self.rng.choice(LABEL_CHARS) for _ in range(n))

    def background_ip(self):
        r = self.rng.randrange
        return self.fresh(lambda: "10.%d.%d.%d" % (r(256), r(256), r(1, 255)))

    def background_domain(self):
        r = self.rng
        return self.fresh(lambda: "".join(r.choice(SYLLABLES) for _ in range(r.randint(3, 5)))
                          + "." + r.choice(BACKGROUND_TLDS))

    def indicator_ip(self):
        r = self.rng.randrange
        return self.fresh(lambda: "%d.%d.%d.%d" % (r(45, 100), r(256), r(256), r(1, 255)))

    def indicator_domain(self):
        r = self.rng
        return self.fresh(lambda: self.label(r.randint(6, 12)) + "." + r.choice(INDICATOR_TLDS))

    def url_on(self, domain):
        r = self.rng
        path = "/".join(self.label(r.randint(3, 8)) for _ in range(r.randint(1, 3)))
        return "%s://%s/%s" % (r.choice(("http", "https")), domain, path)

    def sha256(self):
        return self.fresh(lambda: format(self.rng.getrandbits(256), "064x"))


class Indicators:
    """Builds patterns, each with the SCO values ("plants") observations need to satisfy it."""

    def __init__(self, values):
        self.v = values
        self.rng = values.rng

    def equality(self, kind):
        v = self.v
        if kind == "ipv4":
            x = v.indicator_ip()
            return "ipv4-addr:value = " + literal(x), {"ipv4": x}
        if kind == "domain":
            x = v.indicator_domain()
            return "domain-name:value = " + literal(x), {"domain": x}
        if kind == "url":
            x = v.url_on(v.indicator_domain())
            return "url:value = " + literal(x), {"url": x}
        x = v.sha256()
        return "file:hashes.'SHA-256' = " + literal(x), {"sha256": x}

    def eq(self, _n):
        c, plant = self.equality(self.rng.choice(KINDS))
        return "eq", "[%s]" % c, [plant]

    def disjunction(self, n):
        r = self.rng
        k = r.choice((2, 3))
        if n % 3 == 2:  # across observation expressions, of different kinds
            parts = [self.equality(kind) for kind in r.sample(KINDS, k)]
            return "or-obs", " OR ".join("[%s]" % c for c, _ in parts), [r.choice(parts)[1]]
        kind = r.choice(KINDS)
        parts = [self.equality(kind) for _ in range(k)]
        if kind == "sha256" and r.random() < 0.5:
            name = self.v.label(8) + ".exe"
            parts[-1] = ("file:name = " + literal(name), {"file_name": name})
        return "or-cmp", "[%s]" % " OR ".join(c for c, _ in parts), [r.choice(parts)[1]]

    def regex(self, n):
        v, base = self.v, self.v.indicator_domain()
        sub = v.label(8) + "." + base
        escaped = base.replace(".", "\\.")
        form = n % 4
        if form == 0:
            return "like", "[domain-name:value LIKE %s]" % literal("%." + base), [{"domain": sub}]
        if form == 1:
            return ("like", "[url:value LIKE %s]" % literal("http%://" + base + "/%"),
                    [{"url": "https://%s/%s" % (base, v.label(6))}])
        if form == 2:
            return ("matches", "[domain-name:value MATCHES %s]" % literal("^[a-z0-9]{8}\\." + escaped + "$"),
                    [{"domain": sub}])
        rx = "^https?://" + escaped + "/[a-z0-9]+/gate\\.php\\?id=[0-9]+$"
        url = "http://%s/%s/gate.php?id=%d" % (base, v.label(5), self.rng.randrange(10 ** 6))
        return "matches", "[url:value MATCHES %s]" % literal(rx), [{"url": url}]

    def temporal(self, n):
        """Observation operators and qualifiers; two-observation forms carry their time gap."""
        r = self.rng
        (c1, p1), (c2, p2) = self.equality(r.choice(KINDS)), self.equality(r.choice(KINDS))
        form = n % 6
        if form == 0:
            return "and-obs", "[%s] AND [%s]" % (c1, c2), [p1, p2], (0, 7200)
        if form == 1:
            return "followedby", "[%s] FOLLOWEDBY [%s]" % (c1, c2), [p1, p2], (1, 3600)
        if form == 2:
            return "within", "([%s] AND [%s]) WITHIN 300 SECONDS" % (c1, c2), [p1, p2], (0, 250)
        if form == 3:
            return "repeats", "[%s] REPEATS 2 TIMES WITHIN 3600 SECONDS" % c1, [p1, p1], (1, 3000)
        if form == 4:
            start = EPOCH + datetime.timedelta(seconds=r.randrange(DAY - 3600))
            stop = start + datetime.timedelta(hours=1)
            pattern = "[%s] START t'%s' STOP t'%s'" % (c1, stamp(start)[:19] + "Z", stamp(stop)[:19] + "Z")
            return "startstop", pattern, [p1], (start, stop)
        d, ip = self.v.indicator_domain(), self.v.indicator_ip()
        pattern = "[domain-name:value = %s AND domain-name:resolves_to_refs[*].value = %s]" % (
            literal(d), literal(ip))
        return "and-cmp-ref", pattern, [{"domain": d, "ipv4": ip}], None

    def build(self, n):
        shares = ((self.eq, n * 6 // 10), (self.disjunction, n * 2 // 10), (self.regex, n // 10))
        out = []
        for make, count in shares:
            out += [make(i) + (None,) for i in range(count)]
        out += [self.temporal(i) for i in range(n - len(out))]
        self.rng.shuffle(out)
        return [{"id": self.v.id("indicator"), "category": c, "pattern": p, "plants": plants, "when": when}
                for c, p, plants, when in out]


def scos(v, plant):
    """The SCOs of one observation; `plant` forces the values an indicator needs."""
    r, p, objs = v.rng, plant or {}, []

    def add(kind, **props):
        obj = {"type": kind, "spec_version": "2.1", "id": v.id(kind)}
        obj.update(props)
        objs.append(obj)
        return obj

    if "sha256" in p or "file_name" in p:
        shape = "file"
    elif "url" in p:
        shape = "url"
    elif "domain" in p:
        shape = "dns"
    elif "ipv4" in p:
        shape = r.choice(("ip", "traffic"))
    else:
        shape = r.choices(("dns", "ip", "traffic", "url", "file"), (30, 10, 20, 20, 20))[0]
    if shape == "dns":
        address = add("ipv4-addr", value=p.get("ipv4") or v.background_ip())
        add("domain-name", value=p.get("domain") or v.background_domain(), resolves_to_refs=[address["id"]])
    elif shape == "ip":
        add("ipv4-addr", value=p.get("ipv4") or v.background_ip())
    elif shape == "traffic":
        src = add("ipv4-addr", value=v.background_ip())
        dst = add("ipv4-addr", value=p.get("ipv4") or v.background_ip())
        add("network-traffic", src_ref=src["id"], dst_ref=dst["id"], src_port=r.randrange(1024, 65536),
            dst_port=r.choice((22, 53, 80, 443, 8080)), protocols=["ipv4", "tcp"])
    elif shape == "url":
        add("url", value=p.get("url") or "https://%s/%s" % (
            v.background_domain(), "".join(r.choice(SYLLABLES) for _ in range(4))))
    else:
        name = p.get("file_name") or "%s.%s" % ("".join(r.choice(SYLLABLES) for _ in range(3)),
                                                r.choice(("dll", "exe", "pdf", "docx")))
        add("file", name=name, size=r.randrange(1000, 5_000_000),
            hashes={"SHA-256": p.get("sha256") or v.sha256(), "MD5": format(r.getrandbits(128), "032x")})
    return objs


def plant(v, indicators, n, hit_rate):
    """Chooses which observations satisfy which indicators; returns times, plants and the log."""
    r = v.rng
    times = sorted(r.uniform(0, DAY) for _ in range(n))
    wanted = round(n * hit_rate)
    planted, log = {}, []
    pairs = [i for i in indicators if len(i["plants"]) == 2]
    singles = [i for i in indicators if len(i["plants"]) == 1]
    # About 15% of the planted observations serve two-observation indicators.
    for ind in r.sample(pairs, min(len(pairs), int(wanted * 0.15) // 2)):
        low, high = ind["when"]
        for _ in range(1000):
            a = r.randrange(n)
            b = next((j for j in range(a + 1, n) if times[j] - times[a] >= low), None)
            if b is not None and times[b] - times[a] <= high and a not in planted and b not in planted:
                planted[a], planted[b] = ind["plants"]
                log.append({"indicator": ind["id"], "category": ind["category"], "observations": [a, b]})
                break
    free = [i for i in range(n) if i not in planted]
    r.shuffle(free)
    while len(planted) < wanted and free:
        ind = r.choice(singles)
        if ind["category"] == "startstop":
            start, stop = ind["when"]
            inside = [j for j in free
                      if start <= EPOCH + datetime.timedelta(seconds=times[j]) < stop]
            if not inside:
                continue
            j = r.choice(inside)
            free.remove(j)
        else:
            j = free.pop()
        planted[j] = ind["plants"][0]
        log.append({"indicator": ind["id"], "category": ind["category"], "observations": [j]})
    return times, planted, log


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--patterns", type=int, default=10000)
    p.add_argument("--observations", type=int, default=10000)
    p.add_argument("--hit-rate", type=float, default=0.02)
    p.add_argument("--out", default="pattern-workload")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    v = Values(random.Random(a.seed))
    indicators = Indicators(v).build(a.patterns)
    times, planted, log = plant(v, indicators, a.observations, a.hit_rate)
    bundles = []
    for i, t in enumerate(times):
        when = stamp(EPOCH + datetime.timedelta(seconds=t))
        objs = scos(v, planted.get(i))
        od = {"type": "observed-data", "spec_version": "2.1", "id": v.id("observed-data"),
              "created": when, "modified": when, "first_observed": when, "last_observed": when,
              "number_observed": 1, "object_refs": [o["id"] for o in objs]}
        bundles.append({"type": "bundle", "id": v.id("bundle"), "objects": [od] + objs})
    hit = {entry["indicator"] for entry in log}

    def path(name):
        return os.path.join(a.out, name)

    with open(path("indicators.jsonl"), "w") as f:
        for ind in indicators:
            f.write(json.dumps({"id": ind["id"], "category": ind["category"], "pattern": ind["pattern"],
                                "planted": ind["id"] in hit}) + "\n")
    with open(path("patterns.txt"), "w") as f:
        f.writelines(ind["pattern"] + "\n" for ind in indicators)
    with open(path("observations.jsonl"), "w") as f:
        f.writelines(json.dumps(b, separators=(",", ":")) + "\n" for b in bundles)
    with open(path("observations.bundle.json"), "w") as f:
        json.dump({"type": "bundle", "id": v.id("bundle"),
                   "objects": [o for b in bundles for o in b["objects"]]}, f, separators=(",", ":"))
    with open(path("plants.jsonl"), "w") as f:
        f.writelines(json.dumps(entry) + "\n" for entry in log)
    categories = {}
    for ind in indicators:
        categories[ind["category"]] = categories.get(ind["category"], 0) + 1
    files = ("indicators.jsonl", "patterns.txt", "observations.jsonl", "observations.bundle.json",
             "plants.jsonl")
    manifest = {"generator": "bench/gen/pattern_workload.py", "seed": a.seed,
                "patterns": len(indicators), "observations": len(bundles),
                "hit_observations": len(planted), "planted_indicators": len(hit),
                "categories": dict(sorted(categories.items())), "stix_version": "2.1",
                "files": {name: sha256_file(path(name)) for name in files}}
    with open(path("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
