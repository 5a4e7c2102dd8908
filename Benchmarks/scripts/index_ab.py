#!/usr/bin/env python3
"""Two index variants built with one setting on copies of one store, swept over probes per table
(T) side by side: recall@10 (ann-benchmarks' rule, and strict), table entries read, exact
distances and buckets per query, and search QPS (`query --timing`, median of interleaved rounds).
For changes that alter which candidates a search reads (hash functions, probing order), where
`search_ab.py`'s same-answers check does not apply: judge by recall against entries and QPS.

    python3 Benchmarks/scripts/index_ab.py DATA STORE --setting L4K8m16 --probes 2,4,8 \
        --variant old=TOOL_A --variant new=TOOL_B[,ENV=VALUE...][,setting=itq:L4K16m16] \
        [--queries 5000] [--rounds 3]

DATA holds base.fvecs and queries.fvecs (queries not in the base); STORE is a built store of
that base (copied per variant, never changed). A setting is [FAMILY:]LxKymz (p-stable when no
family is named). A variant is a label, a tripindex binary, optionally its own `setting=`, and
environment settings applied to both `index` and `query`.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fvecs import read_fvecs  # noqa: E402
from ann_suite import recalls, true_kth, write_fvecs  # noqa: E402


def parse_setting(text):
    """`[FAMILY:]LxKymz` as (family, L, K, m), p-stable when no family is named."""
    family, _, shape = text.rpartition(":")
    tables, hashes, dims = re.fullmatch(r"L(\d+)K(\d+)m(\d+)", shape).groups()
    return family or "pstable", tables, hashes, dims


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("store")
    parser.add_argument("--setting", required=True, help="[FAMILY:]LxKymz, e.g. L4K8m16 (p-stable) or itq:L4K16m16")
    parser.add_argument("--probes", default="2,4,8")
    parser.add_argument("--variant", action="append", required=True, help="LABEL=TOOL[,ENV=VALUE...]")
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    xb = read_fvecs(os.path.join(args.data, "base.fvecs"))
    xq = read_fvecs(os.path.join(args.data, "queries.fvecs"))[: args.queries]
    scratch = tempfile.mkdtemp()
    queries = os.path.join(scratch, "queries.fvecs")
    write_fvecs(queries, xq)
    kth = true_kth(xb, xq, args.k)
    variants = {}
    for spec in args.variant:
        label, rest = spec.split("=", 1)
        tool, *settings = rest.split(",")
        overrides = dict(s.split("=", 1) for s in settings)
        family, tables, hashes, dims = parse_setting(overrides.pop("setting", args.setting))
        env = dict(os.environ, **overrides)
        store = os.path.join(scratch, label + ".lmdb")
        shutil.copytree(args.store, store)
        subprocess.run([tool, "index", "--store", store, "--family", family, "--tables", tables, "--bits", hashes,
                        "--hash-dimensions", dims, "--quiet"], check=True, env=env, stdout=subprocess.DEVNULL)
        variants[label] = (tool, store, env, f"{family}:L{tables}K{hashes}m{dims}")
    name = os.path.basename(os.path.normpath(args.data))
    for probes in [int(t) for t in args.probes.split(",")]:
        seconds = {label: [] for label in variants}
        answers = {}
        for _ in range(args.rounds):
            for label, (tool, store, env, _) in variants.items():
                done = subprocess.run(
                    [tool, "query", queries, "-k", str(args.k), "--store", store, "--json", "--timing", "--threads",
                     "2", "--lsh", "--probes", str(probes), "--budget", "0"],
                    check=True, capture_output=True, text=True, env=env)
                seconds[label].append(float(re.search(r"search ([0-9.]+) s", done.stderr).group(1)))
                answers[label] = [json.loads(line) for line in done.stdout.splitlines()]
        for label, rows in answers.items():
            ids = [[n["id"] for n in r["neighbors"]] + [-1] * (args.k - len(r["neighbors"])) for r in rows]
            recall, strict = recalls(ids, xb, xq, kth, args.k)
            mean = {key: np.mean([r.get(key, 0) for r in rows]) for key in ("candidates", "exact_distances",
                                                                            "buckets_read")}
            print(f"{name} {variants[label][3]} T{probes:<3d} {label:10s} recall {recall:.4f} (strict {strict:.4f}) "
                  f"entries {mean['candidates']:8.0f} exact {mean['exact_distances']:6.0f} "
                  f"buckets {mean['buckets_read']:5.1f} QPS {len(xq) / statistics.median(seconds[label]):8.0f}",
                  flush=True)
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
