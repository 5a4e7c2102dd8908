"""Writes a random-but-clustered data set as TEXMEX files, the input of the side-by-side scripts.

    python3 make_clustered.py OUT_DIR [--base 100000] [--queries 10000] [--dim 128] [--clusters 1000] [--seed 0]

base.fvecs and queries.fvecs: points around `clusters` Gaussian centres (unit per-coordinate
spread, centres spread 3x wider), so neighbours are structured as in real embeddings rather than
uniform noise. Queries are drawn from the same mixture (not copies of base points).
"""
import argparse
import os
import numpy as np


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype="<f4")
    n, d = x.shape
    out = np.empty((n, d + 1), dtype="<f4")
    out[:, 0] = np.array([d], dtype="<i4").view("<f4")[0]
    out[:, 1:] = x
    out.tofile(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--base", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    centres = rng.normal(scale=3.0, size=(args.clusters, args.dim)).astype(np.float32)

    def sample(n):
        labels = rng.integers(0, args.clusters, size=n)
        return centres[labels] + rng.normal(size=(n, args.dim)).astype(np.float32)

    os.makedirs(args.out, exist_ok=True)
    write_fvecs(os.path.join(args.out, "base.fvecs"), sample(args.base))
    write_fvecs(os.path.join(args.out, "queries.fvecs"), sample(args.queries))
    print(f"wrote {args.base} base and {args.queries} query vectors of dimension {args.dim} to {args.out}")


if __name__ == "__main__":
    main()
