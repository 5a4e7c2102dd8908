"""Checks `tripindex query --json` against a float64 numpy brute force on the shipped data sets.

    python3 check_exact_numpy.py [--tripindex PATH] [-k 10]

For datasets/optdigits every row is a probe against the whole set; for datasets/synth-reid every
query image is a probe against the gallery folder (each under both metrics). A probe passes when
tripindex's ids equal numpy's, or differ only where distances tie (to 1e-5 relative): integer
pixel data such as optdigits has many exact ties, and tripindex breaks them by smaller id.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
from fvecs import read_fvecs  # noqa: E402


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype="<f4")
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype="<f4")
    out[:, 0] = np.array([x.shape[1]], dtype="<i4").view("<f4")[0]
    out[:, 1:] = x
    out.tofile(path)


def check(tool, name, base_input, base, names, probes, k, metric, scratch):
    store = os.path.join(scratch, f"{name}-{metric}.lmdb")
    subprocess.run([tool, "build", base_input, "--store", store, "--metric", metric, "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    probe_path = os.path.join(scratch, f"{name}-probes.fvecs")
    write_fvecs(probe_path, probes)
    output = subprocess.run([tool, "query", probe_path, "-k", str(k), "--store", store, "--json"],
                            check=True, stdout=subprocess.PIPE).stdout.decode().splitlines()
    index = {n: i for i, n in enumerate(names)}
    b = base.astype(np.float64)
    p = probes.astype(np.float64)
    if metric == "cosine":
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        p /= np.linalg.norm(p, axis=1, keepdims=True)
    passed = exact = 0
    for row, line in enumerate(output):
        record = json.loads(line)
        assert record["row"] == row
        found = [index[n["name"]] for n in record["neighbors"]]
        if metric == "l2":
            dist = ((b - p[row]) ** 2).sum(axis=1)
        else:
            dist = 1 - b @ p[row]
        order = np.lexsort((np.arange(len(dist)), dist))[:k]
        exact += found == list(order)
        tolerance = 1e-5 * max(1.0, abs(dist[order[-1]]))
        passed += found == list(order) or all(abs(dist[f] - dist[o]) <= tolerance for f, o in zip(found, order))
    print(f"{name:10s} {metric:6s} probes {len(output):5d}: identical {exact / len(output):.4f}, "
          f"identical ties aside {passed / len(output):.4f}")
    return passed == len(output)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tripindex", default=os.path.join(ROOT, ".build", "release", "tripindex"))
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        digits = np.load(os.path.join(ROOT, "datasets", "optdigits", "digits.npy"))
        with open(os.path.join(ROOT, "datasets", "optdigits", "labels.csv")) as f:
            digit_names = [line.split(",")[0] for line in f.read().splitlines()[1:]]
        gallery_files = sorted(glob.glob(os.path.join(ROOT, "datasets", "synth-reid", "gallery", "*.fvecs")))
        query_files = sorted(glob.glob(os.path.join(ROOT, "datasets", "synth-reid", "query", "*.fvecs")))
        gallery = np.concatenate([read_fvecs(f) for f in gallery_files])
        queries = np.concatenate([read_fvecs(f) for f in query_files])
        gallery_names = [os.path.basename(f)[: -len(".fvecs")] for f in gallery_files]
        for metric in ["l2", "cosine"]:
            ok &= check(args.tripindex, "optdigits", os.path.join(ROOT, "datasets", "optdigits"), digits,
                        digit_names, digits, args.k, metric, scratch)
            ok &= check(args.tripindex, "synth-reid", os.path.join(ROOT, "datasets", "synth-reid", "gallery"),
                        gallery, gallery_names, queries, args.k, metric, scratch)
    print("all probes agree" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
