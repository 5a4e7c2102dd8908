#!/usr/bin/env python3
"""`tune` with different family grids (or builds) on copies of one store, side by side: what each
chose, its tune seconds, and that choice's recall@10 (ann-benchmarks' rule, float64 truth) and
search QPS on unseen queries (`query --timing`, 2 threads, median of interleaved rounds). For
changes to tune's grid or choice, where the question is what a user gets from `tune`.

    python3 Benchmarks/scripts/tune_families.py DATA STORE \\
        --variant old=TOOL:pstable,itq --variant new=TOOL:pstable,itq,crosspolytope \\
        [--queries 5000] [--rounds 3]

DATA holds base.fvecs and queries.fvecs (queries not in the base); STORE is a built store of that
base without an index (copied per variant, never changed). A variant is a label, a tripindex
binary and the families passed to `tune --families`.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fvecs import read_fvecs  # noqa: E402
from ann_suite import recalls, run_tripindex, true_kth, write_fvecs  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("store")
    parser.add_argument("--variant", action="append", required=True, help="LABEL=TOOL:FAMILY,FAMILY...")
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    xb = read_fvecs(os.path.join(args.data, "base.fvecs"))
    xq = read_fvecs(os.path.join(args.data, "queries.fvecs"))[:args.queries]
    kth = true_kth(xb, xq, 10)
    work = tempfile.mkdtemp(prefix="tune_families.")
    try:
        queries = os.path.join(work, "queries.fvecs")
        write_fvecs(queries, xq)
        variants = []
        for spec in args.variant:
            label, rest = spec.split("=", 1)
            tool, families = rest.rsplit(":", 1)
            store = os.path.join(work, label + ".lmdb")
            shutil.copytree(args.store, store)
            started = time.perf_counter()
            tuned = subprocess.run([tool, "tune", "--store", store, "--recall", "0.9", "--json", "--quiet",
                                    "--families"] + families.split(","), capture_output=True, text=True, check=True)
            variants.append((label, tool, store, time.perf_counter() - started, json.loads(tuned.stdout)["verdict"]))
        timings = {label: [] for label, *_ in variants}
        recall = {}
        for _ in range(args.rounds):
            for label, tool, store, _, _ in variants:
                ids, search, _, candidates = run_tripindex(tool, queries, store, 10, 2, 1, [])
                recall[label] = (recalls(ids, xb, xq, kth, 10)[0], candidates)
                timings[label].append(search)
        name = os.path.basename(os.path.normpath(args.data))
        for label, _, _, seconds, verdict in variants:
            qps = len(xq) / statistics.median(timings[label])
            print(f"{name} {label}: tune {seconds:.1f} s, recall {recall[label][0]:.3f}, {qps:,.0f} QPS, "
                  f"{recall[label][1]:,.0f} entries a query | {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
