"""Writes an ann-benchmarks-layout HDF5 file (train, test, neighbors, distances, attribute
distance) from a folder of base.fvecs and queries.fvecs — the sets make_clustered.py,
make_patches.py and make_reid_embeddings.sh write — or from a Gaussian mixture made here.

    python3 make_ann_hdf5.py OUT.hdf5 [--from DIR] [--metric euclidean|angular]
                             [--train 100000] [--test 1000] [--dim 128] [--seed 0] [--top 100]

The true top-`top` neighbours and their distances come from numpy in float64: Euclidean (not
squared) for euclidean, 1 − cosine for angular, as ann-benchmarks writes them. Needs numpy and
h5py (PyPI); neither is a dependency of tripindex.
"""
import argparse
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fvecs import read_fvecs  # noqa: E402


def true_neighbours(train, test, metric, top, block=64):
    base = train.astype(np.float64)
    queries = test.astype(np.float64)
    if metric == "angular":
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    else:
        base_norms = (base ** 2).sum(axis=1)
    neighbours = np.empty((len(test), top), dtype=np.int32)
    distances = np.empty((len(test), top), dtype=np.float32)
    for start in range(0, len(test), block):
        q = queries[start:start + block]
        if metric == "angular":
            d = 1.0 - q @ base.T
        else:
            d = np.sqrt(np.maximum((q ** 2).sum(axis=1)[:, None] - 2 * q @ base.T + base_norms[None, :], 0))
        part = np.argpartition(d, top, axis=1)[:, :top]
        order = np.take_along_axis(d, part, 1).argsort(axis=1, kind="stable")
        chosen = np.take_along_axis(part, order, 1)
        # Exact distances of the chosen, recomputed directly (the expansion above loses digits).
        if metric == "angular":
            exact = 1.0 - np.einsum("qd,qkd->qk", q, base[chosen])
        else:
            exact = np.sqrt(((q[:, None, :] - base[chosen]) ** 2).sum(axis=2))
        order = exact.argsort(axis=1, kind="stable")
        neighbours[start:start + len(q)] = np.take_along_axis(chosen, order, 1)
        distances[start:start + len(q)] = np.take_along_axis(exact, order, 1)
    return neighbours, distances


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--from", dest="source")
    parser.add_argument("--metric", choices=["euclidean", "angular"], default="euclidean")
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--test", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=100)
    args = parser.parse_args()
    if args.source:
        train = read_fvecs(os.path.join(args.source, "base.fvecs"))[: args.train]
        test = read_fvecs(os.path.join(args.source, "queries.fvecs"))[: args.test]
    else:
        rng = np.random.default_rng(args.seed)
        centres = rng.normal(scale=3.0, size=(args.clusters, args.dim))
        def sample(n):
            return (centres[rng.integers(0, args.clusters, size=n)] + rng.normal(size=(n, args.dim))).astype(np.float32)
        train, test = sample(args.train), sample(args.test)
    neighbours, distances = true_neighbours(train, test, args.metric, args.top)
    with h5py.File(args.out, "w") as f:
        f.attrs["distance"] = args.metric
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=train.astype(np.float32))
        f.create_dataset("test", data=test.astype(np.float32))
        f.create_dataset("neighbors", data=neighbours)
        f.create_dataset("distances", data=distances)
    print(f"{args.out}: train {train.shape}, test {test.shape}, {args.metric}, top {args.top}")


if __name__ == "__main__":
    main()
