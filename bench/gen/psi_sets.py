#!/usr/bin/env python3
"""Deterministic PSI workload: two sets of N indicator-like items with a known intersection.

    bench/gen/psi_sets.py N --server FILE --client FILE [--overlap 0.10] [--seed 1] [--common FILE]

Both sets hold N distinct domain names, one a line. The first round(N * overlap) items of the
server's set are also in the client's set (the truth: `--common` writes them, sorted); every
other item is unique to its side, because the two sides draw from different name spaces
(`*.bad-actor.TLD` for the server, `*.phish-host.TLD` for the client) with a running number in
each name. The client's list is shuffled so that order reveals nothing. Prints the intersection
size. Deterministic for a given N, overlap and seed.
"""
import argparse
import random

TLDS = ("com", "net", "org", "ru", "cn", "xyz", "top", "info", "io", "biz")


def sets(n, overlap, seed):
    """(server items, client items, common items) for n items a side."""
    rng = random.Random(seed)
    common = round(n * overlap)
    server = ["s%08d-%08x.bad-actor.%s" % (i, rng.getrandbits(32), TLDS[i % len(TLDS)]) for i in range(n)]
    client = server[:common] + [
        "c%08d-%08x.phish-host.%s" % (i, rng.getrandbits(32), TLDS[i % len(TLDS)])
        for i in range(n - common)
    ]
    rng.shuffle(client)
    return server, client, server[:common]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", type=int)
    p.add_argument("--server", required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--common", help="also write the expected intersection here, sorted")
    p.add_argument("--overlap", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    server, client, common = sets(a.n, a.overlap, a.seed)
    for path, items in ((a.server, server), (a.client, client), (a.common, sorted(common))):
        if path:
            with open(path, "w") as f:
                f.writelines(item + "\n" for item in items)
    print(len(common))


if __name__ == "__main__":
    main()
