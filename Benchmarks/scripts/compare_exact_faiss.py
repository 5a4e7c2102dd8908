"""Exact search, side by side: `tripindex query --exact` against FAISS IndexFlatL2 on the same files.

    python3 compare_exact_faiss.py DATA_DIR [--tripindex PATH] [-k 10] [--threads 2] [--runs 3]

DATA_DIR holds base.fvecs and queries.fvecs (make_clustered.py writes them). tripindex is timed
end to end as a process (start-up, opening the store, parsing the probes, searching, writing JSON
lines to /dev/null); FAISS is timed on `index.search` alone, after loading and adding. Both use the
same number of threads; each gets the best of --runs runs. Results are checked against a float64
numpy brute force on a sample of queries: neighbour lists must agree except where distances tie
to within 1e-5 (relative).

Needs numpy and faiss-cpu (PyPI); neither is a dependency of tripindex itself.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fvecs import read_fvecs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def best_of(runs, work):
    best = float("inf")
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def ties_aside_agree(found, reference_ids, reference_dist, all_dist):
    """True when `found` equals the reference, or differs only among (near-)tied distances."""
    if list(found) == list(reference_ids):
        return True
    kth = reference_dist[-1]
    return all(abs(all_dist[i] - reference_dist[j]) <= 1e-5 * max(1.0, abs(kth))
               for j, i in enumerate(found))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", type=int, default=500, help="queries checked against numpy float64")
    args = parser.parse_args()

    import faiss

    base_path = os.path.join(args.data, "base.fvecs")
    query_path = os.path.join(args.data, "queries.fvecs")
    xb = read_fvecs(base_path)
    xq = read_fvecs(query_path)
    print(f"data: {xb.shape[0]} base x {xb.shape[1]}, {xq.shape[0]} queries, k={args.k}, threads={args.threads}")

    with tempfile.TemporaryDirectory() as scratch:
        store = os.path.join(scratch, "base.lmdb")
        start = time.perf_counter()
        subprocess.run([args.tripindex, "build", base_path, "--store", store, "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        build_seconds = time.perf_counter() - start
        command = [args.tripindex, "query", query_path, "-k", str(args.k), "--store", store, "--exact",
                   "--json", "--threads", str(args.threads)]

        def run_tripindex():
            output = subprocess.run(command, check=True, stdout=subprocess.PIPE).stdout
            return output

        ours_seconds, output = best_of(args.runs, run_tripindex)
        ours = np.array([[int(n["name"].rsplit("#", 1)[1]) for n in json.loads(line)["neighbors"]]
                         for line in output.decode().splitlines()])

    faiss.omp_set_num_threads(args.threads)
    index = faiss.IndexFlatL2(xb.shape[1])
    index.add(xb)
    faiss_seconds, (_, faiss_ids) = best_of(args.runs, lambda: index.search(xq, args.k))

    sample = np.random.default_rng(0).choice(len(xq), size=min(args.check, len(xq)), replace=False)
    xb64 = xb.astype(np.float64)
    agree_ours = agree_faiss = 0
    for q in sample:
        dist = ((xb64 - xq[q].astype(np.float64)) ** 2).sum(axis=1)
        order = np.lexsort((np.arange(len(dist)), dist))[: args.k]
        agree_ours += ties_aside_agree(ours[q], order, dist[order], dist)
        agree_faiss += ties_aside_agree(faiss_ids[q], order, dist[order], dist)

    n = len(xq)
    rows = [
        ("tripindex query --exact (whole process)", ours_seconds),
        ("faiss IndexFlatL2.search (search only)", faiss_seconds),
    ]
    print(f"{'method':44s} {'seconds':>8s} {'QPS':>10s}")
    for name, seconds in rows:
        print(f"{name:44s} {seconds:8.3f} {n / seconds:10.0f}")
    print(f"tripindex build (ingest {xb.shape[0]} vectors): {build_seconds:.2f} s")
    print(f"agreement with float64 brute force (ties aside), {len(sample)} queries: "
          f"tripindex {agree_ours / len(sample):.4f}, faiss {agree_faiss / len(sample):.4f}")
    print(f"QPS ratio tripindex / faiss: {faiss_seconds / ours_seconds:.2f}x")


if __name__ == "__main__":
    main()
