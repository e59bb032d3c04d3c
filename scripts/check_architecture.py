#!/usr/bin/env python3
"""The picture matches the code (issue 11).

1. The dependency graph drawn in ARCHITECTURE.md (the code block after the line
   `<!-- dependency graph -->`) has exactly the edges `cargo metadata` reports between workspace
   crates ([dependencies] and [build-dependencies]; dev-dependencies are test scaffolding).
   In the drawing `a, b ──▶ c ──▶ d` means c depends on a and b, and d on c; names are crate
   names without the `detente-` prefix (`detente` is the binary); a line ending in `,` goes on
   in the next; text in parentheses is a remark.
2. No crate has a cycle among its top-level modules: module `a` uses module `b` when its files
   (its `#[cfg(test)]` modules left out) name `crate::b`, `super::b` (from a top-level module),
   or an item the crate root re-exports from `b`.

   The cycles in KNOWN_CYCLES are still to be broken (each names why it waits); a cycle not
   listed there fails, and so does a listed one that is gone (the list only shrinks).

Prints what differs and exits 1; exits 0 when both hold.
"""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARROW = "──▶"
MARK = "<!-- dependency graph -->"

# (crate, modules of the cycle): why it is still there.
KNOWN_CYCLES = {
    ("detente", ("member", "peer", "push", "serve", "signatures", "sync", "verify")):
        "the command modules reach into each other for shared helpers (serve's DataArgs and "
        "open_store, member's valid_name, ...); those want a module of their own",
    ("detente-server", ("federation", "handlers", "ingest", "scores")):
        "handlers.rs is both the router and the home of shared helpers (blocking, "
        "each_latest, collection); the helpers want a module of their own",
    ("detente-store-pg", ("flags", "peers", "store")):
        "store.rs is both the Store impl and the home of the transaction helpers "
        "(bump_generation, delete_version, Deleted) the other modules use",
    ("detente-store-sqlite", ("assets", "checkpoint", "id_gate", "keys", "peers", "schema", "store")):
        "store.rs is both the Store impl and the home of the transaction helpers "
        "(ingest_tx, bump_generation, open_conn) the other modules use",
}


def workspace_graph():
    """{crate: set of workspace crates it depends on} from cargo metadata."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    meta = json.loads(out)
    members = {p["name"] for p in meta["packages"]}
    graph = {}
    for p in meta["packages"]:
        graph[p["name"]] = {
            d["name"]
            for d in p["dependencies"]
            if d["name"] in members and d.get("kind") in (None, "build")
        }
    return graph


def drawn_graph(crates):
    """(edges, names drawn, problems) from the ARCHITECTURE.md drawing."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    problems = []
    if MARK not in text:
        return set(), set(), [f"ARCHITECTURE.md has no {MARK} line"]
    block = text.split(MARK, 1)[1].split("```", 2)[1]
    statements, pending = [], ""
    for line in block.splitlines():
        line = pending + " " + re.sub(r"\([^)]*\)", "", line).strip()
        if line.rstrip().endswith(","):
            pending = line
            continue
        pending = ""
        statements.append(line.strip())

    def name(word):
        full = "detente" if word == "detente" else "detente-" + word
        if full not in crates:
            problems.append(f"ARCHITECTURE.md draws {word!r}, which is no workspace crate")
        return full

    edges, drawn = set(), set()
    for s in statements:
        if ARROW not in s:
            continue
        groups = [
            [name(w.strip()) for w in seg.split(",") if w.strip()] for seg in s.split(ARROW)
        ]
        for g in groups:
            drawn.update(g)
        for deps, users in zip(groups, groups[1:]):
            edges.update((u, d) for u in users for d in deps)
    # Crates with no edge at all are listed on a line of their own, without arrows.
    for s in statements:
        if ARROW not in s and s.startswith("·"):
            drawn.update(name(w.strip()) for w in s.lstrip("·").split(",") if w.strip())
    return edges, drawn, problems


def check_graph():
    graph = workspace_graph()
    actual = {(c, d) for c, deps in graph.items() for d in deps}
    drawn, names, problems = drawn_graph(set(graph))
    for c, d in sorted(actual - drawn):
        problems.append(f"{c} depends on {d}, which ARCHITECTURE.md does not draw")
    for c, d in sorted(drawn - actual):
        problems.append(f"ARCHITECTURE.md draws {c} depending on {d}, which it does not")
    for c in sorted(set(graph) - names):
        problems.append(f"ARCHITECTURE.md does not draw crate {c}")
    return problems


def strip_comments(src):
    """The source without `//` comments (doc comments name paths they do not use)."""
    out = []
    for line in src.splitlines():
        cut = len(line)
        for m in re.finditer(r"//", line):
            if line[: m.start()].count('"') % 2 == 0:
                cut = m.start()
                break
        out.append(line[:cut])
    return "\n".join(out)


def strip_tests(src):
    """The source without comments and `#[cfg(test)]` items (`mod … { … }` or `mod …;`)."""
    src = strip_comments(src)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*([;{])", src):
        if m.start() < i:
            continue
        out.append(src[i : m.start()])
        if m.group(3) == ";":
            i = m.end()
            continue
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        i = j
    out.append(src[i:])
    return "".join(out)


def paths_after(src, prefix):
    """First names of every path after `prefix::` (braced groups expanded one level)."""
    names = []
    for m in re.finditer(r"\b" + prefix + r"::", src):
        j = m.end()
        if src[j : j + 1] == "{":
            depth, k = 1, j + 1
            while k < len(src) and depth:
                depth += {"{": 1, "}": -1}.get(src[k], 0)
                k += 1
            inner, depth, start = src[j + 1 : k - 1], 0, 0
            for idx, ch in enumerate(inner + ","):
                depth += {"{": 1, "}": -1}.get(ch, 0)
                if ch == "," and depth == 0:
                    w = re.match(r"\s*(\w+)", inner[start:idx])
                    if w:
                        names.append(w.group(1))
                    start = idx + 1
        else:
            w = re.match(r"(\w+)", src[j:])
            if w:
                names.append(w.group(1))
    return names


def crate_modules(src_dir):
    """{top-level module: source text} and the root's text."""
    mods = {}
    for f in sorted(src_dir.rglob("*.rs")):
        rel = f.relative_to(src_dir).parts
        if rel in (("lib.rs",), ("main.rs",)) or rel[0] == "bin":
            continue
        top = rel[0][:-3] if len(rel) == 1 else rel[0]
        mods[top] = mods.get(top, "") + "\n" + strip_tests(f.read_text(encoding="utf-8"))
    roots = [src_dir / r for r in ("lib.rs", "main.rs") if (src_dir / r).exists()]
    root = "\n".join(strip_tests(r.read_text(encoding="utf-8")) for r in roots)
    return mods, root


def root_reexports(root, mods):
    """{item name: module} for `pub use module::…` at the crate root."""
    found = {}
    for m in re.finditer(r"pub\s+use\s+(?:self::|crate::)?(\w+)::([^;]*);", root):
        if m.group(1) not in mods:
            continue
        for item in re.findall(r"\b(\w+)\b(?!\s*::)", m.group(2)):
            if item not in ("self", "as", "super", "crate"):
                found[item] = m.group(1)
    return found


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_modules():
    problems, seen = [], set()
    for src_dir in sorted((ROOT / "crates").glob("*/src")):
        mods, root = crate_modules(src_dir)
        items = root_reexports(root, mods)
        graph = {}
        for m, text in mods.items():
            used = set()
            for first in paths_after(text, "crate"):
                if first in mods:
                    used.add(first)
                elif first in items:
                    used.add(items[first])
            # `super::x` in a top-level module's own file names the root's `x`.
            own = src_dir / f"{m}.rs"
            if own.exists():
                for first in paths_after(strip_tests(own.read_text(encoding="utf-8")), "super"):
                    if first in mods:
                        used.add(first)
                    elif first in items:
                        used.add(items[first])
            used.discard(m)
            graph[m] = used
        crate = src_dir.parent.name
        for comp in cycles(graph):
            key = (crate, tuple(comp))
            seen.add(key)
            if key in KNOWN_CYCLES:
                print(f"known module cycle, to be broken: {crate} {comp}: {KNOWN_CYCLES[key]}")
                continue
            edges = ", ".join(f"{a} → {b}" for a in comp for b in sorted(graph[a]) if b in comp)
            problems.append(f"{crate}: module cycle among {comp}: {edges}")
    for crate, comp in sorted(set(KNOWN_CYCLES) - seen):
        problems.append(
            f"{crate}: the known cycle among {list(comp)} is gone: drop it from KNOWN_CYCLES"
        )
    return problems


def main():
    problems = check_graph() + check_modules()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("architecture: the drawn dependency graph matches cargo metadata; no new module cycle")


if __name__ == "__main__":
    main()
