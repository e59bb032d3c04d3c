#!/usr/bin/env python3
"""OpenMined PSI (PyPI openmined-psi 2.0.6: ECDH on P-256, C++ core) on bench/gen/psi_sets.py sets.

    openmined_psi.py N [N ...] [--fpr 1e-9] [--budget-s 300] [--out results.json]

For each N, runs the whole protocol in one process, client and server on the same sets as
`bench/psi.sh` gives detente: the client's request, the server's setup message (a Golomb-
compressed set at false-positive rate --fpr) and response, then the client's intersection.
Every message is serialised and parsed again, as it would cross the network; its size is what
would go on the wire. Reports wall and CPU seconds (one thread: CPU/wall near 1), bytes per
item and the intersection found (which must equal psi_sets.py's). A size whose time,
extrapolated linearly from the previous size, exceeds --budget-s is skipped and reported with
that estimate.
"""
import argparse
import json
import os
import resource
import sys
import time

import private_set_intersection.python as psi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen"))
from psi_sets import sets  # noqa: E402  (the one set generator, beside this folder)


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def hop(message, kind):
    """Serialises a message and parses it back; returns the copy and its size in bytes."""
    wire = message.SerializeToString()
    return kind.FromString(wire), len(wire)


def run(n, fpr):
    server_items, client_items, common = sets(n, 0.10, 1)
    wall0, cpu0 = time.perf_counter(), cpu()
    client = psi.client.CreateWithNewKey(True)
    server = psi.server.CreateWithNewKey(True)
    request, request_bytes = hop(client.CreateRequest(client_items), psi.Request)
    setup, setup_bytes = hop(
        server.CreateSetupMessage(fpr, n, server_items, psi.DataStructure.GCS), psi.ServerSetup)
    response, response_bytes = hop(server.ProcessRequest(request), psi.Response)
    found = client.GetIntersection(setup, response)
    wall, cpu_s = time.perf_counter() - wall0, cpu() - cpu0
    total = request_bytes + setup_bytes + response_bytes
    return {
        "n_client": n, "n_server": n, "expected_overlap": len(common),
        "intersection_found": len(found), "fpr": fpr,
        "total_wall_s": round(wall, 3), "cpu_s": round(cpu_s, 3),
        "bytes": {"request": request_bytes, "setup": setup_bytes, "response": response_bytes,
                  "total": total},
        "bytes_per_item": {"total": round(total / n, 2)},
        "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sizes", nargs="+", type=int)
    p.add_argument("--fpr", type=float, default=1e-9)
    p.add_argument("--budget-s", type=float, default=300.0)
    p.add_argument("--out")
    a = p.parse_args()
    print("openmined-psi %s, %d cpus" % (psi.__version__, os.cpu_count()), flush=True)
    results, previous = [], None
    for n in a.sizes:
        if previous and previous["total_wall_s"] * n / previous["n_client"] > a.budget_s:
            estimate = previous["total_wall_s"] * n / previous["n_client"]
            result = {"n_client": n, "skipped": True, "extrapolated_total_wall_s": round(estimate, 1)}
        else:
            result = previous = run(n, a.fpr)
        print(json.dumps(result), flush=True)
        results.append(result)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
