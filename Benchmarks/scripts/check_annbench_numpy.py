"""Checks `tripindex annbench` against numpy on an ann-benchmarks-layout HDF5 file: runs it with
--save-neighbors, recomputes every row's recall@k from the rows it returned — ann-benchmarks'
rule, distances in float64 from the file's own train and test vectors (Euclidean, or 1 − cosine),
threshold the file's k-th true distance + 1e-3 — and strict recall against the file's
`neighbors`, and requires both to equal what tripindex printed to 1e-6.

    python3 check_annbench_numpy.py FILE.hdf5 [--tripindex PATH] [--recall 0.5 0.9 …] [-k 10]
                                    [--out RESULTS.txt] [--svg CHART.svg]

Exit status 1 when any row differs. Needs numpy and h5py (PyPI).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def numpy_recall(train, test, truth_neighbours, truth_distances, returned, metric, k):
    recalls, stricts = [], []
    for q in range(len(test)):
        ids = returned[q][returned[q] >= 0][:k]
        if metric == "angular":
            a = test[q] / np.linalg.norm(test[q])
            b = train[ids] / np.linalg.norm(train[ids], axis=1, keepdims=True)
            d = 1.0 - b @ a
        else:
            d = np.sqrt(((train[ids] - test[q]) ** 2).sum(axis=1))
        threshold = float(truth_distances[q, k - 1]) + 1e-3
        recalls.append(np.count_nonzero(d <= threshold) / k)
        stricts.append(len(set(ids.tolist()) & set(truth_neighbours[q, :k].tolist())) / k)
    return float(np.mean(recalls)), float(np.mean(stricts))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--recall", nargs="+", default=["0.5", "0.9", "0.99"])
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out")
    parser.add_argument("--svg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        command = [args.tripindex, "annbench", args.file, "--json", "--quiet", "-k", str(args.k),
                   "--save-neighbors", os.path.join(work, "returned"), "--recall", *args.recall]
        if args.svg:
            command += ["--svg", args.svg]
        report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        with h5py.File(args.file, "r") as f:
            metric = f.attrs["distance"]
            metric = metric.decode() if isinstance(metric, bytes) else str(metric)
            train = f["train"][:].astype(np.float64)
            test = f["test"][:].astype(np.float64)[: report["queries"]]
            neighbours = f["neighbors"][: report["queries"]]
            distances = f["distances"][: report["queries"]].astype(np.float64)
        lines = [
            f"{args.file}: {report['train']:,} train x {report['dimension']}, {report['queries']:,} test, "
            f"{metric}; store built in {report['build_seconds']:.1f} s",
            f"{'method':<58} {'recall':>8} {'numpy':>8} {'strict':>8} {'numpy':>8} {'QPS':>8} {'p50 ms':>7} {'p99 ms':>7} {'MiB':>6} {'tune s':>6}",
        ]
        worst = 0.0
        for row in report["rows"]:
            returned = np.load(os.path.join(work, "returned", row["name"] + ".npy"))
            recall, strict = numpy_recall(train, test, neighbours, distances, returned, metric, args.k)
            worst = max(worst, abs(recall - row["recall"]), abs(strict - row["strict_recall"]))
            tune = "-" if row["tune_seconds"] is None else f"{row['tune_seconds']:.1f}"
            lines.append(
                f"{row['method'][:58]:<58} {row['recall']:8.4f} {recall:8.4f} {row['strict_recall']:8.4f} {strict:8.4f} "
                f"{row['qps']:8.0f} {row['p50_ms']:7.3f} {row['p99_ms']:7.3f} {row['index_bytes'] / 2**20:6.1f} {tune:>6}")
        lines += ["tune: " + verdict for verdict in report["verdicts"]]
        lines.append(f"largest |tripindex - numpy| over recall and strict recall: {worst:.2e} (limit 1e-6)")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")
    sys.exit(0 if worst <= 1e-6 else 1)


if __name__ == "__main__":
    main()
