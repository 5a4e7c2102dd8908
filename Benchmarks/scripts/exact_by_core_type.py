"""Exact search under each OpenBLAS core type, side by side with FAISS IndexFlatL2.

    python3 exact_by_core_type.py DATA_DIR [DATA_DIR ...] [--core-types default,Haswell,Zen]
        [--queries N] [--rounds 3] [--threads 2] [-k 10] [--check 200] [--out FILE]

Each DATA_DIR holds base.fvecs and queries.fvecs (make_clustered.py, make_patches.py). For every
core type (OPENBLAS_CORETYPE; `default` leaves it unset, so OpenBLAS picks its own kernels) and
round, interleaved: `tripindex query --exact` as a whole process (start-up, reading the probes,
the search, JSON lines to a file), then FAISS IndexFlatL2.search in a child process under the same
core type (search only, after loading and adding). Figures are medians over the rounds.

Beside the times: the scan's speed, 2 · queries · base · d / tripindex's time, against the
machine's sgemm at 1024 x 1024 x d on the same threads (`tripindex info --blas`, which also
measures exact search's product shapes and caches the fastest: the shape every run used is
printed), and agreement of both tools with a float64 numpy brute force on a sample of queries
(ties aside: lists that differ only among distances equal to within 1e-5 relative count as equal).

Needs numpy and faiss-cpu (PyPI); neither is a dependency of tripindex itself.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fvecs import read_fvecs  # noqa: E402

DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")

FAISS_CHILD = r"""
import sys, time, numpy as np, faiss
sys.path.insert(0, sys.argv[1])
from fvecs import read_fvecs
xb = read_fvecs(sys.argv[2]); xq = read_fvecs(sys.argv[3])[: int(sys.argv[4])]
faiss.omp_set_num_threads(int(sys.argv[5]))
index = faiss.IndexFlatL2(xb.shape[1]); index.add(xb)
start = time.perf_counter(); _, ids = index.search(xq, int(sys.argv[6])); seconds = time.perf_counter() - start
np.save(sys.argv[7], ids)
print(seconds)
"""


def environment(core):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if core != "default":
        env["OPENBLAS_CORETYPE"] = core
    return env


def distances64(xb, probe, chunk=1 << 20):
    """Squared L2 distances from one probe to every base row, in float64, a chunk of rows at a time
    (a 10M base never exists in float64 at once)."""
    probe = probe.astype(np.float64)
    return np.concatenate([((xb[start:start + chunk].astype(np.float64) - probe) ** 2).sum(axis=1)
                           for start in range(0, len(xb), chunk)])


def agree(found, xb, xq, sample, k):
    """Fraction of sampled queries whose list equals the float64 brute force, ties aside."""
    good = 0
    for q in sample:
        dist = distances64(xb, xq[q])
        order = np.lexsort((np.arange(len(dist)), dist))[:k]
        if list(found[q]) == list(order):
            good += 1
            continue
        kth = dist[order[-1]]
        good += all(abs(dist[i] - dist[order[j]]) <= 1e-5 * max(1.0, abs(kth)) for j, i in enumerate(found[q]))
    return good / len(sample)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+")
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--core-types", default="default,Haswell,Zen")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--check", type=int, default=200, help="queries checked against numpy float64")
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args()
    cores = args.core_types.split(",")
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"exact search by OpenBLAS core type: {args.threads} threads, k={args.k}, medians of "
        f"{args.rounds} interleaved rounds")
    for data in args.data:
        name = os.path.basename(os.path.normpath(data))
        base_path = os.path.join(data, "base.fvecs")
        xb = read_fvecs(base_path)
        xq_all = read_fvecs(os.path.join(data, "queries.fvecs"))
        xq = xq_all[: args.queries]
        n, d = len(xq), xb.shape[1]
        with tempfile.TemporaryDirectory() as scratch:
            query_path = os.path.join(scratch, "queries.fvecs")
            out = np.empty((n, d + 1), dtype="<f4")
            out[:, 0] = np.array([d], dtype="<i4").view("<f4")[0]
            out[:, 1:] = xq
            out.tofile(query_path)
            store = os.path.join(scratch, "base.lmdb")
            subprocess.run([args.tripindex, "build", base_path, "--store", store, "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
            blas = {}
            for core in cores:
                report = subprocess.run([args.tripindex, "info", "--blas", "--dimension", str(d), "--json"],
                                        env=environment(core), check=True, stdout=subprocess.PIPE)
                blas[core] = json.loads(report.stdout)
            ours = {core: [] for core in cores}
            theirs = {core: [] for core in cores}
            ids = {}
            for _ in range(args.rounds):
                for core in cores:
                    result = os.path.join(scratch, f"ours-{core}.jsonl")
                    start = time.perf_counter()
                    with open(result, "w") as sink:
                        subprocess.run([args.tripindex, "query", query_path, "--store", store, "--exact", "-k",
                                        str(args.k), "--json", "--threads", str(args.threads)],
                                       env=environment(core), check=True, stdout=sink)
                    ours[core].append(time.perf_counter() - start)
                    with open(result) as lines_in:
                        ids[("ours", core)] = np.array(
                            [[int(x["name"].rsplit("#", 1)[1]) for x in json.loads(line)["neighbors"]]
                             for line in lines_in])
                    faiss_ids = os.path.join(scratch, f"faiss-{core}.npy")
                    child = subprocess.run([sys.executable, "-c", FAISS_CHILD, HERE, base_path, query_path, str(n),
                                            str(args.threads), str(args.k), faiss_ids],
                                           env=environment(core), check=True, stdout=subprocess.PIPE)
                    theirs[core].append(float(child.stdout.decode().split()[-1]))
                    ids[("faiss", core)] = np.load(faiss_ids)
            sample = np.random.default_rng(0).choice(n, size=min(args.check, n), replace=False)
            operations = 2.0 * n * len(xb) * d
            say()
            say(f"{name}: {len(xb):,} base x {d}, {n:,} queries; cpu {blas[cores[0]]['cpu_model']}")
            say(f"{'core type':10s} {'kernels':11s} {'shape':20s} {'tripindex s':>11s} {'faiss s':>8s} "
                f"{'ratio':>6s} {'scan GFLOP/s':>12s} {'sgemm peak':>10s} {'of peak':>7s} "
                f"{'numpy agree (ours/faiss)':>24s}")
            for core in cores:
                ours_s = statistics.median(ours[core])
                faiss_s = statistics.median(theirs[core])
                peak = blas[core]["sgemm_gflops_threads"]
                scan = operations / ours_s / 1e9
                agreement = (agree(ids[("ours", core)], xb, xq, sample, args.k),
                             agree(ids[("faiss", core)], xb, xq, sample, args.k))
                say(f"{core:10s} {blas[core]['openblas_core']:11s} {blas[core]['chosen']:20s} {ours_s:11.3f} "
                    f"{faiss_s:8.3f} {faiss_s / ours_s:5.2f}x {scan:12.1f} {peak:10.1f} {scan / peak:6.0%} "
                    f"{agreement[0]:11.4f}/{agreement[1]:.4f}")
            say("  ratio = FAISS seconds / tripindex seconds (above 1: tripindex faster, whole process against "
                "FAISS's search alone); shapes measured: " + "; ".join(
                    f"{core}: " + ", ".join(f"{s['shape']} {s['gflops']:.0f}" for s in blas[core]["scan_shapes"])
                    for core in cores))
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
