#!/usr/bin/env python3
"""TAXII 2.1 load for any server: ingest, paging, match[type] and by-id queries, with latencies.

    taxii_load.py --base-url URL --api-root /api/ --collection ID [--user U --password P]
                  [--n 20000] [--batch 500] [--page-limit 1000] [--requests 1000]
                  [--query-limit 100] [--phases post,get,query] [--seed 7] [--json-out FILE]

Phases:
  post   POSTs --n generated STIX 2.1 indicators in envelopes of --batch, each followed until
         its status resource says "complete"; objects/s from the first POST to the last
         completion.
  get    reads the collection back page by page (limit --page-limit), following `next`, or
         `added_after` = X-TAXII-Date-Added-Last when the server gives no `next`; objects/s,
         and how many distinct ids came back.
  query  --requests GETs of objects/?match[type]=indicator&limit=--query-limit, and --requests
         GETs of objects/{id}/ for ids it posted; req/s and latency percentiles.

The workload is deterministic for a --seed (ids, values, timestamps relative to a fixed
epoch): four kinds of indicator in turn (IPv4 address, domain, URL, SHA-256). Every loop is
bounded by its count, by --phase-budget seconds and by --request-timeout per request; only
--base-url is contacted. Prints the result as JSON; exits 1 if the post phase reports an error
or a failed object.
"""
import argparse
import datetime
import json
import math
import os
import random
import sys
import time
import uuid
from urllib.parse import urljoin

import requests

MEDIA = "application/taxii+json;version=2.1"
EPOCH = datetime.datetime(2026, 1, 1)


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def indicators(n, seed):
    """n indicators; kind i % 4: IPv4 address, domain, URL, SHA-256."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            v = "%d.%d.%d.%d" % (rng.randint(1, 223), rng.randrange(256), rng.randrange(256), rng.randint(1, 254))
            pattern, name = "[ipv4-addr:value = '%s']" % v, "C2 address %s" % v
        elif kind == 1:
            v = "%s-%d.%s" % (rng.choice(("login", "cdn", "update", "mail")), rng.randrange(10 ** 6),
                              rng.choice(("example.com", "example.net", "example.org")))
            pattern, name = "[domain-name:value = '%s']" % v, "Phishing domain %s" % v
        elif kind == 2:
            v = "http://h%d.example.net/%s/%08x.php" % (rng.randrange(10 ** 6), rng.choice(("gate", "panel")),
                                                        rng.getrandbits(32))
            pattern, name = "[url:value = '%s']" % v, "Malware download URL"
        else:
            v = format(rng.getrandbits(256), "064x")
            pattern, name = "[file:hashes.'SHA-256' = '%s']" % v, "Malicious file %s" % v[:12]
        created = stamp(EPOCH + datetime.timedelta(seconds=rng.randrange(30 * 86400),
                                                   milliseconds=rng.randrange(1000)))
        out.append({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--%s" % uuid.UUID(int=rng.getrandbits(128), version=4),
            "created": created, "modified": created, "name": name,
            "indicator_types": ["malicious-activity"], "pattern": pattern, "pattern_type": "stix",
            "pattern_version": "2.1", "valid_from": created, "confidence": rng.choice((15, 50, 85)),
            "labels": ["detente-bench"],
        })
    return out


def latencies(seconds):
    """Percentiles (nearest rank) and mean of a list of durations, in milliseconds."""
    if not seconds:
        return {}
    s = sorted(seconds)

    def rank(p):
        return round(s[max(0, math.ceil(p / 100 * len(s)) - 1)] * 1000, 2)

    return {"count": len(s), "p50_ms": rank(50), "p90_ms": rank(90), "p99_ms": rank(99),
            "max_ms": round(s[-1] * 1000, 2), "mean_ms": round(sum(s) / len(s) * 1000, 2)}


class Taxii:
    def __init__(self, a):
        self.http = requests.Session()
        self.http.auth = (a.user, a.password) if a.user else None
        self.http.headers.update({"Accept": MEDIA, "User-Agent": "detente-bench"})
        self.timeout = a.request_timeout
        root = a.api_root if a.api_root.startswith("http") else urljoin(a.base_url.rstrip("/") + "/",
                                                                        a.api_root.lstrip("/"))
        self.root = root.rstrip("/") + "/"
        self.objects = urljoin(self.root, "collections/%s/objects/" % a.collection)

    def get(self, url, params=None):
        return self.http.get(url, params=params, timeout=self.timeout)

    def post(self, body):
        return self.http.post(self.objects, data=body, timeout=self.timeout,
                              headers={"Content-Type": MEDIA})


def post_phase(t, a, objects):
    deadline, start = time.monotonic() + a.phase_budget, time.monotonic()
    posted = succeeded = failed = 0
    batches, errors = [], []
    for first in range(0, len(objects), a.batch):
        if time.monotonic() > deadline:
            errors.append("phase budget exhausted after %d objects" % posted)
            break
        chunk = objects[first:first + a.batch]
        began = time.monotonic()
        r = t.post(json.dumps({"objects": chunk}).encode())
        if r.status_code != 202:
            errors.append("POST %s: %s" % (r.status_code, r.text[:200]))
            break
        status = r.json()
        for _ in range(a.max_status_polls):
            if status.get("status") == "complete" or time.monotonic() > deadline:
                break
            time.sleep(a.poll_interval)
            r = t.get(urljoin(t.root, "status/%s/" % status["id"]))
            if r.status_code != 200:
                errors.append("status GET %s" % r.status_code)
                break
            status = r.json()
        if status.get("status") != "complete":
            errors.append("status %s not complete" % status.get("id"))
            break
        batches.append(time.monotonic() - began)
        posted += len(chunk)
        succeeded += status.get("success_count", 0)
        failed += status.get("failure_count", 0)
    took = time.monotonic() - start
    return {"objects_posted": posted, "success_count": succeeded, "failure_count": failed,
            "seconds": round(took, 3), "objects_per_s": round(posted / took, 1) if took else None,
            "batch_latency": latencies(batches), "errors": errors}


def get_phase(t, a):
    deadline, start = time.monotonic() + a.phase_budget, time.monotonic()
    ids, received, pages, errors = set(), 0, [], []
    params = {"limit": a.page_limit}
    via = {"next": 0, "added_after": 0}
    for _ in range(math.ceil(max(a.n, 1) / a.page_limit) + 20):
        if time.monotonic() > deadline:
            errors.append("phase budget exhausted")
            break
        began = time.monotonic()
        r = t.get(t.objects, params)
        pages.append(time.monotonic() - began)
        if r.status_code != 200:
            errors.append("GET %s: %s" % (r.status_code, r.text[:200]))
            break
        envelope = r.json()
        page = envelope.get("objects", [])
        received += len(page)
        ids.update(o.get("id") for o in page)
        if not envelope.get("more"):
            break
        if envelope.get("next"):
            params = {"limit": a.page_limit, "next": envelope["next"]}
            via["next"] += 1
        elif r.headers.get("X-TAXII-Date-Added-Last"):
            params = {"limit": a.page_limit, "added_after": r.headers["X-TAXII-Date-Added-Last"]}
            via["added_after"] += 1
        else:
            errors.append("more=true without next or X-TAXII-Date-Added-Last")
            break
    took = time.monotonic() - start
    return {"objects_received": received, "unique_ids": len(ids), "pages": len(pages),
            "seconds": round(took, 3), "objects_per_s": round(received / took, 1) if took else None,
            "page_latency": latencies(pages), "pagination_via": via, "errors": errors}


def timed_gets(t, a, make):
    deadline, start = time.monotonic() + a.phase_budget, time.monotonic()
    spent, codes = [], {}
    for i in range(a.requests):
        if time.monotonic() > deadline:
            break
        url, params = make(i)
        began = time.monotonic()
        try:
            code = str(t.get(url, params).status_code)
        except requests.RequestException:
            code = "exception"
        spent.append(time.monotonic() - began)
        codes[code] = codes.get(code, 0) + 1
    took = time.monotonic() - start
    return dict({"requests": len(spent), "seconds": round(took, 3),
                 "req_per_s": round(len(spent) / took, 2) if took else None, "status_codes": codes},
                **latencies(spent))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-root", required=True, help="path (/api1/) or absolute URL")
    p.add_argument("--collection", required=True, help="a collection the user may read and write")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--page-limit", type=int, default=1000)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--query-limit", type=int, default=100)
    p.add_argument("--phases", default="post,get,query")
    p.add_argument("--phase-budget", type=float, default=600.0, help="seconds per phase at most")
    p.add_argument("--request-timeout", type=float, default=120.0)
    p.add_argument("--poll-interval", type=float, default=0.2)
    p.add_argument("--max-status-polls", type=int, default=600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json-out")
    a = p.parse_args()
    t = Taxii(a)
    phases = {x.strip() for x in a.phases.split(",")}
    objects = indicators(a.n, a.seed)
    ids = [o["id"] for o in objects]
    result = {"target": t.objects, "n": a.n, "batch": a.batch, "page_limit": a.page_limit,
              "requests": a.requests, "query_limit": a.query_limit, "seed": a.seed,
              "cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    if "post" in phases:
        result["post"] = post_phase(t, a, objects)
        ids = ids[:result["post"]["objects_posted"]]
        print("post: %s" % json.dumps(result["post"]), file=sys.stderr, flush=True)
    if "get" in phases:
        result["get_all"] = get_phase(t, a)
        print("get: %s" % json.dumps(result["get_all"]), file=sys.stderr, flush=True)
    if "query" in phases:
        pick = random.Random(a.seed + 1)
        result["query"] = {"match_type_indicator_limit%d" % a.query_limit: timed_gets(
            t, a, lambda _: (t.objects, {"match[type]": "indicator", "limit": a.query_limit}))}
        if ids:
            result["query"]["object_by_id"] = timed_gets(
                t, a, lambda _: (t.objects + pick.choice(ids) + "/", None))
        print("query: %s" % json.dumps(result["query"]), file=sys.stderr, flush=True)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
    post = result.get("post", {})
    sys.exit(1 if post.get("errors") or post.get("failure_count") else 0)


if __name__ == "__main__":
    main()
