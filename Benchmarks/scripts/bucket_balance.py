"""How p-stable buckets fill, and whether equal-mass cuts would find the true neighbours with
fewer table entries: a simulation in numpy of the index's hashing (its top principal
components, K Gaussian projections per table, floor((a.z + b) / w) with w from the data as the
index picks it), home buckets only (no multiprobe, no code filter).

    python3 Benchmarks/scripts/bucket_balance.py DATA_DIR [-K 10] [-m 8] [--queries 400]

DATA_DIR holds base.fvecs and queries.fvecs (make_patches.py, make_clustered.py). Prints, per
hash family variant: the number of non-empty buckets of one table, their mean size, the
size-biased mean (the size of the bucket an item lands in, which is what a query meets), and
for L = 4, 8, 16 tables and widths w/2, w, 2w the recall@10 of the union of the home buckets and
the table entries they hold. "uniform" is the index's family; "quantile" cuts each projection at
its data quantiles into as many cells as the uniform width gives over its 0.1-99.9 % range.
"""
import argparse
from collections import defaultdict

import numpy as np

from fvecs import read_fvecs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("-K", type=int, default=10)
    parser.add_argument("-m", type=int, default=8)
    parser.add_argument("--queries", type=int, default=400)
    options = parser.parse_args()
    base = read_fvecs(f"{options.data}/base.fvecs").astype(np.float64)
    queries = read_fvecs(f"{options.data}/queries.fvecs")[:options.queries].astype(np.float64)
    n, K, m = len(base), options.K, options.m
    distances = (queries ** 2).sum(1)[:, None] - 2 * queries @ base.T + (base ** 2).sum(1)[None, :]
    truth = np.argsort(distances, axis=1)[:, :10]
    mean = base.mean(0)
    _, vectors = np.linalg.eigh(np.cov((base - mean)[::5].T))
    basis = vectors[:, ::-1][:, :m]
    z, zq = (base - mean) @ basis, (queries - mean) @ basis
    random = np.random.default_rng(1)
    sample = z[random.choice(n, 2000, replace=False)]
    near = ((sample[:, None, :] - sample[None, :, :]) ** 2).sum(-1)
    near.sort(1)
    width = 2.5 * np.percentile(np.sqrt(near[:, 10]), 90)

    def table(cuts, w, seed):
        draw = np.random.default_rng(seed)
        a = draw.standard_normal((m, K))
        p, pq = z @ a, zq @ a
        if cuts == "uniform":
            b = draw.uniform(0, w, K)
            h, hq = np.floor((p + b) / w), np.floor((pq + b) / w)
        else:
            h, hq = np.empty_like(p), np.empty_like(pq)
            for j in range(K):
                span = np.percentile(p[:, j], 99.9) - np.percentile(p[:, j], 0.1)
                cells = max(1, int(np.ceil(span / w)))
                edges = np.quantile(p[:, j], np.linspace(0, 1, cells + 1)[1:-1])
                h[:, j], hq[:, j] = np.searchsorted(edges, p[:, j]), np.searchsorted(edges, pq[:, j])
        buckets = defaultdict(list)
        for item, key in enumerate(map(tuple, h.astype(np.int64))):
            buckets[key].append(item)
        sizes = np.array([len(v) for v in buckets.values()])
        homes = [np.array(buckets.get(tuple(key), []), dtype=np.int64) for key in hq.astype(np.int64)]
        return sizes, homes

    for cuts in ("uniform", "quantile"):
        sizes, _ = table(cuts, width, 0)
        print(f"{cuts}: one table K{K} m{m}: {len(sizes):,} buckets, mean {n / len(sizes):.1f}, "
              f"size-biased mean {(sizes ** 2).sum() / n:,.1f}, largest {sizes.max():,}")
        for scale in (0.5, 1.0, 2.0):
            homes = [table(cuts, width * scale, seed)[1] for seed in range(16)]
            for tables in (4, 8, 16):
                found = entries = 0
                for q in range(len(queries)):
                    union = np.unique(np.concatenate([homes[t][q] for t in range(tables)]))
                    entries += sum(len(homes[t][q]) for t in range(tables))
                    found += len(np.intersect1d(union, truth[q])) / 10
                print(f"  w x{scale} L{tables}: recall@10 {found / len(queries):.3f}, "
                      f"entries {entries / len(queries):,.0f}")


if __name__ == "__main__":
    main()
