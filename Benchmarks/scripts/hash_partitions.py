#!/usr/bin/env python3
"""How many items each hash family puts in front of a query for a given recall, apart from
tripindex's search machinery (codes, pages, bounds): the partition alone.

For each family and setting, every query's candidates are the items of its T probed buckets in
each of L tables (multiprobe: the home bucket, then perturbations of one or two hashes in
increasing score, as Lv et al.); recall@10 is the share of its true 10 nearest neighbours among
them (an exact re-rank of the candidates returns exactly those). Reported per family: the
fewest distinct candidates (and table entries, counting an item once per table that holds it)
any swept setting needs for recall 0.90 and 0.95. IVF (k-means cells, FAISS's quantizer) is the
reference row: not a hashing index, but the data-following partition hashing competes with.

Families, all on the top m principal components (centred, as the index hashes them):
  pstable      K Gaussian rows per table, floor((z.r + b) / w)           (tripindex's default)
  pstable-orth the same rows made orthogonal per table when K <= m (each keeps its length)
  hyperplane   signs of K Gaussian rows per table
  itq          signs of the top K components rotated by ITQ (Gong & Lazebnik), one learned
               rotation per table from its own random start

    python3 Benchmarks/scripts/hash_partitions.py DATA [--queries 500] [--m 16] [--tables 4,8]
"""
import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fvecs import read_fvecs  # noqa: E402

PROBES = [1, 2, 4, 8, 16, 32]


def true_neighbours(xb, xq, k):
    import faiss
    index = faiss.IndexFlatL2(xb.shape[1])
    index.add(xb)
    return index.search(xq, k)[1]


def perturbation_sets(groups):
    """Delta vectors of the home bucket, every single move and every pair of moves in different
    groups; a move is (group, +1 or -1)."""
    moves = [(g, s) for g in range(groups) for s in (-1, 1)]
    sets = [()] + [(m,) for m in moves] + [
        (a, b) for a, b in itertools.combinations(moves, 2) if a[0] != b[0]]
    deltas = np.zeros((len(sets), groups), dtype=np.int64)
    members = np.zeros((len(sets), len(moves)), dtype=bool)
    for row, chosen in enumerate(sets):
        for group, sign in chosen:
            deltas[row, group] = sign
            members[row, moves.index((group, sign))] = True
    return deltas, members


class Table:
    """One table: the base's bucket vectors folded into 64-bit codes, sorted for lookup."""

    def __init__(self, buckets, fold):
        self.fold = fold
        codes = buckets @ fold
        self.order = np.argsort(codes, kind="stable")
        self.sorted = codes[self.order]

    def members(self, buckets):
        codes = buckets @ self.fold
        low = np.searchsorted(self.sorted, codes, "left")
        high = np.searchsorted(self.sorted, codes, "right")
        return low, high


def sweep_family(family, z, zq, truth, tables, hashes, widths, rng):
    """Rows of (setting, T, recall, distinct, entries) for one family."""
    n, m = z.shape
    rows = []
    deltas_pm, members_pm = perturbation_sets(hashes)
    for width in widths if family.startswith("pstable") else [None]:
        tabs, qbuckets, qscores = [], [], []
        for _ in range(tables):
            fold = rng.integers(1, 2**62, size=hashes, dtype=np.int64) | 1
            if family in ("pstable", "pstable-orth", "hyperplane"):
                rows_ = rng.standard_normal((hashes, m))
                if family == "pstable-orth":
                    q, _ = np.linalg.qr(rows_.T)
                    rows_ = (q.T[:hashes] if hashes <= m else rows_) * np.linalg.norm(rows_, axis=1)[:, None]
                if family.startswith("pstable"):
                    offsets = rng.uniform(0, width, size=hashes)
                    scaled = (z @ rows_.T + offsets) / width
                    scaled_q = (zq @ rows_.T + offsets) / width
                    base = np.floor(scaled).astype(np.int64)
                    home = np.floor(scaled_q).astype(np.int64)
                    frac = scaled_q - home
                    score = np.empty((len(zq), 2 * hashes))
                    score[:, 0::2] = frac ** 2
                    score[:, 1::2] = (1 - frac) ** 2
                else:
                    proj, proj_q = z @ rows_.T, zq @ rows_.T
                    base, home = (proj >= 0).astype(np.int64), (proj_q >= 0).astype(np.int64)
                    # A flip moves a bit to the other side: -1 from 1, +1 from 0.
                    score = np.full((len(zq), 2 * hashes), np.inf)
                    score[:, 0::2] = np.where(home == 1, proj_q ** 2, np.inf)
                    score[:, 1::2] = np.where(home == 0, proj_q ** 2, np.inf)
            elif family == "itq":
                k = min(hashes, m)
                v = z[:, :k]
                r, _ = np.linalg.qr(rng.standard_normal((k, k)))
                sample = v[rng.choice(n, size=min(n, 20000), replace=False)]
                for _ in range(50):
                    b = np.sign(sample @ r)
                    u, _, wt = np.linalg.svd(b.T @ sample)
                    r = (u @ wt).T
                proj, proj_q = z[:, :k] @ r, zq[:, :k] @ r
                base, home = (proj >= 0).astype(np.int64), (proj_q >= 0).astype(np.int64)
                score = np.full((len(zq), 2 * k), np.inf)
                score[:, 0::2] = np.where(home == 1, proj_q ** 2, np.inf)
                score[:, 1::2] = np.where(home == 0, proj_q ** 2, np.inf)
            tabs.append(Table(base, fold))
            qbuckets.append(home)
            qscores.append(score)
        per_probe = {}
        # Each table orders its own perturbations.
        nq = len(zq)
        ranges = []
        for table, home, score in zip(tabs, qbuckets, qscores):
            set_scores = np.where(members_pm, 1.0, 0.0) @ np.nan_to_num(score.T, posinf=1e30)
            order = np.argsort(set_scores.T, axis=1, kind="stable")[:, : max(PROBES)]
            chosen = deltas_pm[order]
            buckets = home[:, None, :] + chosen
            low, high = table.members(buckets.reshape(-1, hashes))
            ranges.append((table, low.reshape(nq, -1), high.reshape(nq, -1)))
        for probes in PROBES:
            hits = distinct = entries = 0
            for q in range(nq):
                parts = [table.order[low[q, p]:high[q, p]] for table, low, high in ranges
                         for p in range(probes) if high[q, p] > low[q, p]]
                found = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
                entries += sum(len(part) for part in parts)
                distinct += len(found)
                hits += np.isin(truth[q], found).sum()
            label = f"L{tables} K{hashes}" + (f" w{width:.3g}" if width else "")
            rows.append((label, probes, hits / truth.size, distinct / nq, entries / nq))
    return rows


def fewest(rows, target):
    reaching = [r for r in rows if r[2] >= target]
    return min(reaching, key=lambda r: r[3]) if reaching else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--tables", default="4,8")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    xb = read_fvecs(os.path.join(args.data, "base.fvecs")).astype(np.float64)
    xq = read_fvecs(os.path.join(args.data, "queries.fvecs"))[: args.queries].astype(np.float64)
    truth = true_neighbours(xb.astype(np.float32), xq.astype(np.float32), 10)
    mean = xb.mean(0)
    sample = xb[rng.choice(len(xb), size=min(len(xb), 50000), replace=False)] - mean
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    basis = vt[: args.m].T
    z, zq = (xb - mean) @ basis, (xq - mean) @ basis
    # The index's default width: 2.5 x the 90th percentile of sampled 10-NN distances in hash space.
    import faiss
    flat = faiss.IndexFlatL2(args.m)
    flat.add(z.astype(np.float32))
    probe = z[rng.choice(len(z), size=500, replace=False)].astype(np.float32)
    d, _ = flat.search(probe, 11)
    default_width = 2.5 * np.percentile(np.sqrt(np.maximum(d[:, 10], 0)), 90)
    name = os.path.basename(os.path.normpath(args.data))
    print(f"{name}: {len(xb):,} x {xb.shape[1]}, {len(xq)} queries (not in the base), hashes on the top "
          f"{args.m} principal components; default width {default_width:.3g}", flush=True)
    results = {}
    for tables in [int(t) for t in args.tables.split(",")]:
        for family, hash_counts in (("pstable", (6, 8, 10)), ("pstable-orth", (6, 8, 10)),
                                    ("hyperplane", (12, 16, 20)), ("itq", (args.m,))):
            for hashes in hash_counts:
                widths = [default_width * s for s in (0.5, 0.7, 1.0, 1.4)]
                results.setdefault(family, []).extend(
                    sweep_family(family, z, zq, truth, tables, hashes, widths, rng))
    # IVF reference: k-means cells (4 sqrt(n), a power of two), nprobe swept.
    nlist = 1 << int(np.log2(4 * np.sqrt(len(xb))))
    quantizer = faiss.IndexFlatL2(xb.shape[1])
    kmeans = faiss.Kmeans(xb.shape[1], nlist, niter=20, seed=args.seed)
    kmeans.train(xb.astype(np.float32))
    quantizer.add(kmeans.centroids)
    _, cell = quantizer.search(xb.astype(np.float32), 1)
    cell = cell[:, 0]
    sizes = np.bincount(cell, minlength=nlist)
    for nprobe in (1, 2, 4, 8, 16, 32, 64, 128):
        _, cells = quantizer.search(xq.astype(np.float32), nprobe)
        hits = sum(np.isin(cell[truth[q]], cells[q]).sum() for q in range(len(xq)))
        count = np.mean([sizes[cells[q]].sum() for q in range(len(xq))])
        results.setdefault("ivf (reference)", []).append((f"IVF{nlist}", nprobe, hits / truth.size, count, count))
    for target in (0.90, 0.95):
        print(f"  fewest candidates for recall@10 >= {target}:")
        for family, rows in results.items():
            best = fewest(rows, target)
            if best:
                print(f"    {family:16s} {best[0]:18s} T{best[1]:<3d} recall {best[2]:.3f}: "
                      f"{best[3]:9,.0f} distinct ({100 * best[3] / len(xb):5.2f} % of the base), "
                      f"{best[4]:9,.0f} table entries", flush=True)
            else:
                print(f"    {family:16s} no swept setting reaches it", flush=True)


if __name__ == "__main__":
    main()
