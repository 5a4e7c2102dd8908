"""Writes a real (not random) ANN data set: 8x8 RGB patches (192-d) of the two photographs that
ship inside scikit-learn (china.jpg and flower.jpg, `sklearn.datasets.load_sample_images`).

    python3 make_patches.py OUT_DIR [--base 100000] [--queries 10000] [--seed 0]

Every 8x8 window of both images is a candidate (531,720 of them); for more than that, the eight
flips and rotations of each window are added (4.25 million). Base and query patches are drawn
without replacement, so no query is a copy of a base vector (but natural images repeat: flat sky
gives exact ties, which ann-benchmarks' recall definition counts correctly). Values are the pixel
intensities 0-255 as float32; with --contrast-normalise each patch minus its own mean.

Writes base.fvecs, queries.fvecs, and (up to 200k base vectors) groundtruth.ivecs (the 100 exact
nearest base ids of each query under squared L2, computed with numpy in float64 blocks). Needs numpy, scikit-learn and
Pillow from PyPI (for generation only).
"""
import argparse
import os
import sys

import numpy as np
from sklearn.datasets import load_sample_images

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def write_vecs(path, x, dtype):
    x = np.ascontiguousarray(x, dtype=dtype)
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=dtype)
    out[:, 0] = np.array([x.shape[1]], dtype="<i4").view(dtype)[0]
    out[:, 1:] = x
    out.tofile(path)


def patches(images, count, rng, size=8):
    windows = []
    for image in images:
        h, w, _ = image.shape
        ys, xs = np.meshgrid(np.arange(h - size + 1), np.arange(w - size + 1), indexing="ij")
        windows.append(np.stack([np.full(ys.size, len(windows)), ys.ravel(), xs.ravel()], axis=1))
    windows = np.concatenate(windows)
    transforms = 1 if count <= len(windows) else 8
    total = len(windows) * transforms
    if count > total:
        raise SystemExit(f"only {total} distinct patches are available; asked for {count}")
    chosen = rng.choice(total, size=count, replace=False)
    out = np.empty((count, size * size * 3), dtype=np.float32)
    for row, index in enumerate(chosen):
        image_index, y, x = windows[index % len(windows)]
        patch = images[image_index][y:y + size, x:x + size, :]
        t = index // len(windows)
        patch = np.rot90(patch, k=t % 4)
        if t >= 4:
            patch = patch[:, ::-1, :]
        out[row] = patch.reshape(-1)
    return out


def groundtruth(base, queries, k=100, block=1000):
    base64 = base.astype(np.float64)
    norms = (base64 ** 2).sum(1)
    result = np.empty((len(queries), k), dtype=np.int32)
    for start in range(0, len(queries), block):
        q = queries[start:start + block].astype(np.float64)
        d = norms[None, :] - 2 * q @ base64.T + (q ** 2).sum(1)[:, None]
        part = np.argpartition(d, k, axis=1)[:, :k]
        rows = np.arange(len(q))[:, None]
        order = np.lexsort((part, d[rows, part]), axis=1)
        result[start:start + len(q)] = part[rows, order]
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--base", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contrast-normalise", action="store_true",
                        help="subtract each patch's own mean (the standard preprocessing that removes "
                             "brightness, the dominant low-dimensional direction): a much harder set")
    args = parser.parse_args()
    images = [np.asarray(i) for i in load_sample_images().images]
    rng = np.random.default_rng(args.seed)
    data = patches(images, args.base + args.queries, rng)
    if args.contrast_normalise:
        data = data - data.mean(axis=1, keepdims=True)
    base, queries = data[: args.base], data[args.base:]
    os.makedirs(args.out, exist_ok=True)
    write_vecs(os.path.join(args.out, "base.fvecs"), base, "<f4")
    write_vecs(os.path.join(args.out, "queries.fvecs"), queries, "<f4")
    if len(base) <= 200_000:
        write_vecs(os.path.join(args.out, "groundtruth.ivecs"), groundtruth(base, queries), "<i4")
    print(f"wrote {len(base)} base and {len(queries)} query patches (192-d) to {args.out}"
          + (" with ground truth" if len(base) <= 200_000 else " (no ground truth file above 200k: the comparison scripts compute it)"))


if __name__ == "__main__":
    main()
