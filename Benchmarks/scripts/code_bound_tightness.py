#!/usr/bin/env python3
"""How tight the LSH index's compact-code lower bounds are, by code width: for several
(components, bits per component) choices, how many items' lower bound falls below a query's
true 10th squared distance (those a bound-ordered search must compute exactly), over the whole
base and over each query's 6,000 nearest items (roughly what LSH buckets hand a search).

    python3 Benchmarks/scripts/code_bound_tightness.py SET_DIR [--queries 200]

The bound is the one `CompactCoder` computes: the top principal components, each quantised to
2^bits intervals of equal sample shares, plus the norm of the rest (the residual) to 2^bits
steps; the squared gaps to the intervals plus the squared residual gap. 4-bit codes are what a
FastScan-style byte-shuffle scan reads (16-entry tables); 8 bits is the index's code today.
Asserts the bound never exceeds the true distance.

The last row is a candidate second stage, not what the index stores: every dimension of the
original vector quantised to 8 bits on a uniform grid between its 0.05 % and 99.95 % sample
quantiles (the end codes open outwards), bounded by the gap from the query to each code's cell.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fvecs import read_fvecs  # noqa: E402

SETTINGS = [(32, 8), (16, 8), (32, 4), (64, 4), (96, 4), (128, 4)]


def bounds(P, Q, Ps, m, bits):
    n = 2 ** bits
    edges = [np.quantile(Ps[:, i], np.linspace(0, 1, n + 1)) for i in range(m)]
    residual = np.sqrt(np.maximum((P ** 2).sum(1) - (P[:, :m] ** 2).sum(1), 0))
    query_residual = np.sqrt(np.maximum((Q ** 2).sum(1) - (Q[:, :m] ** 2).sum(1), 0))
    step = residual.max() * 1.1 / n
    codes = np.floor(residual / step)
    low_r, high_r = np.maximum(0, (codes - 0.5) * step), (codes + 1.5) * step
    lows, highs = [], []
    for i in range(m):
        e = edges[i]
        c = np.clip(np.searchsorted(e, P[:, i], side="right") - 1, 0, n - 1)
        low, high = e[c].copy(), e[c + 1].copy()
        low[c == 0], high[c == n - 1] = -np.inf, np.inf
        lows.append(low)
        highs.append(high)
    L, H = np.stack(lows, 1), np.stack(highs, 1)
    out = []
    for qi in range(len(Q)):
        q = Q[qi, :m]
        gap = np.maximum(np.maximum(L - q, q - H), 0)
        r = np.maximum(0, np.maximum(low_r - query_residual[qi], query_residual[qi] - high_r))
        out.append((gap ** 2).sum(1) + r ** 2)
    return np.array(out)


def scalar_bounds(xb, xq, sample, tail=0.0005):
    """Lower bounds from an 8-bit uniform scalar code of every original dimension."""
    lo = np.quantile(sample, tail, axis=0).astype(np.float64)
    hi = np.quantile(sample, 1 - tail, axis=0).astype(np.float64)
    step = np.maximum(hi - lo, 1e-12) / 255
    codes = np.clip(np.round((xb - lo) / step), 0, 255)
    centre = lo + codes * step
    low, high = centre - step / 2, centre + step / 2
    low[codes == 0], high[codes == 255] = -np.inf, np.inf
    return np.stack([(np.maximum(np.maximum(low - q, q - high), 0) ** 2).sum(1) for q in xq])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("set")
    parser.add_argument("--queries", type=int, default=200)
    arguments = parser.parse_args()
    name = os.path.basename(os.path.normpath(arguments.set))
    xb = read_fvecs(os.path.join(arguments.set, "base.fvecs")).astype(np.float32)
    xq = read_fvecs(os.path.join(arguments.set, "queries.fvecs"))[: arguments.queries]
    xq = xq.astype(np.float32)
    rng = np.random.default_rng(0)
    sample = xb[rng.choice(len(xb), min(20000, len(xb)), replace=False)]
    mean = sample.mean(0)
    _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
    # In float64, so that the residual norm (a difference of squared norms) is not float noise.
    mean, vt = mean.astype(np.float64), vt.astype(np.float64)
    P, Q, Ps = (xb - mean) @ vt.T, (xq - mean) @ vt.T, (sample - mean) @ vt.T
    D = np.stack([((xb - q) ** 2).sum(1) for q in xq])
    kth = np.sort(D, 1)[:, 9]
    nearest = np.argsort(D, 1)[:, :6000]
    print(f"{name}: {len(xb):,} x {xb.shape[1]}, {len(xq)} queries (not in the base), k = 10")

    def report(label, B):
        assert (B <= D * 1.0001 + 1e-3).all(), f"{label}: a bound above the true distance"
        over_base = (B < kth[:, None]).sum(1).mean()
        over_near = (np.take_along_axis(B, nearest, 1) < kth[:, None]).sum(1).mean()
        print(f"  {label}: bound below the 10th distance for {over_base:7.0f} items of the base, "
              f"{over_near:6.0f} of the 6,000 nearest")

    for m, bits in SETTINGS:
        if m < xb.shape[1]:
            report(f"{m:3d} components x {bits} bits ({m * bits // 8:3d} bytes)", bounds(P, Q, Ps, m, bits))
    report(f"all {xb.shape[1]} dimensions x 8 bits, original basis ({xb.shape[1]:3d} bytes)",
           scalar_bounds(xb.astype(np.float64), xq.astype(np.float64), sample))


if __name__ == "__main__":
    main()
