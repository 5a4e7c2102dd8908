"""What `tripindex index` gives without tuning: each hash family's defaults on several sets, so
the default family per metric is chosen by measurement.

    python3 default_family.py DATA_DIR [DATA_DIR ...] [--metric cosine|l2] [--queries 5000]
        [-k 10] [--threads 2] [--out FILE]

Each DATA_DIR holds base.fvecs and queries.fvecs. For each set: a store with --metric, exact
search timed (whole process), then `index` with no --family (the default for the metric) and
with each family's defaults, each searched with --lsh (even where `index` measured it slower
than exact search). Recall@k by ann-benchmarks' rule in the metric's own units (1 - cos for
cosine, Euclidean for l2: an item counts when its distance is within the true k-th distance
+ 1e-3) and strict recall, from float64 ground truth; QPS of the whole process.

Needs numpy; tripindex does not.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fvecs import read_fvecs  # noqa: E402

DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def truth(xb, xq, k, metric):
    """Per query: the distances of the true k nearest (float64), in the metric's own units."""
    b = xb.astype(np.float64)
    q = xq.astype(np.float64)
    if metric == "cosine":
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    kth = np.empty(len(q))
    norms = (b * b).sum(axis=1)
    for start in range(0, len(q), 500):
        block = q[start:start + 500]
        products = block @ b.T
        if metric == "cosine":
            dist = 1 - products
        else:
            dist = np.sqrt(np.maximum(norms[None, :] - 2 * products + (block * block).sum(axis=1)[:, None], 0))
        kth[start:start + len(block)] = np.partition(dist, k - 1, axis=1)[:, k - 1]
    return b, q, kth


def recalls(found, b, q, kth, k, metric):
    loose = strict = 0
    for row, ids in enumerate(found):
        ids = np.array(ids[:k], dtype=np.int64)
        if metric == "cosine":
            dist = 1 - b[ids] @ q[row]
        else:
            dist = np.sqrt(((b[ids] - q[row]) ** 2).sum(axis=1))
        loose += int((dist <= kth[row] + 1e-3).sum())
        strict += int((dist <= kth[row] * (1 + 1e-6) + 1e-12).sum())
    return loose / (k * len(found)), strict / (k * len(found))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+")
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--metric", default="cosine", choices=["cosine", "l2"])
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"index defaults per family, metric {args.metric}, k={args.k}, {args.threads} threads, "
        "QPS of the whole process")
    for data in args.data:
        name = os.path.basename(os.path.normpath(data))
        xb = read_fvecs(os.path.join(data, "base.fvecs"))
        xq = read_fvecs(os.path.join(data, "queries.fvecs"))[: args.queries]
        b, q, kth = truth(xb, xq, args.k, args.metric)
        with tempfile.TemporaryDirectory() as scratch:
            queries = os.path.join(scratch, "queries.fvecs")
            out = np.empty((len(xq), xq.shape[1] + 1), dtype="<f4")
            out[:, 0] = np.array([xq.shape[1]], dtype="<i4").view("<f4")[0]
            out[:, 1:] = xq
            out.tofile(queries)
            store = os.path.join(scratch, "s.lmdb")
            subprocess.run([args.tripindex, "build", os.path.join(data, "base.fvecs"), "--store", store,
                            "--metric", args.metric, "--quiet"], check=True, stdout=subprocess.DEVNULL)

            def search(extra):
                start = time.perf_counter()
                output = subprocess.run([args.tripindex, "query", queries, "--store", store, "-k", str(args.k),
                                         "--json", "--threads", str(args.threads)] + extra,
                                        check=True, stdout=subprocess.PIPE).stdout
                seconds = time.perf_counter() - start
                rows = [json.loads(line) for line in output.decode().splitlines()]
                found = [[n["id"] for n in row["neighbors"]] for row in rows]
                candidates = np.mean([row.get("candidates", len(xb)) for row in rows])
                return found, len(xq) / seconds, candidates

            found, exact_qps, _ = search(["--exact"])
            say()
            say(f"{name}: {len(xb):,} x {xb.shape[1]}, {len(xq):,} queries; exact {exact_qps:,.0f} QPS, "
                f"recall {recalls(found, b, q, kth, args.k, args.metric)[0]:.4f}")
            say(f"  {'family':28s} {'recall@k':>8s} {'strict':>7s} {'QPS':>8s} {'x exact':>7s} {'candidates':>10s}")
            for family in [None, "hyperplane", "pstable", "crosspolytope"]:
                command = [args.tripindex, "index", "--store", store]
                if family:
                    command += ["--family", family]
                indexed = subprocess.run(command, check=True, stdout=subprocess.PIPE).stdout.decode()
                summary = next((line for line in indexed.splitlines() if "lsh " in line), "").strip()
                found, qps, candidates = search(["--lsh"])
                recall, strict = recalls(found, b, q, kth, args.k, args.metric)
                label = family or "(no --family)"
                say(f"  {label:28s} {recall:8.4f} {strict:7.4f} {qps:8,.0f} {qps / exact_qps:6.2f}x {candidates:10,.0f}"
                    + (f"   [{summary[:70]}]" if not family else ""))
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
