"""Re-ID evaluation speed, side by side: `tripindex eval` against a numpy implementation of
torchreid's `eval_market1501` on a Market-1501-sized problem.

    python3 compare_metrics_numpy.py [--tripindex PATH] [--queries 3368] [--gallery 15913] [--dim 256] [--runs 3]

Writes synthetic features with Market-1501-like labels (751 identities, 6 cameras, distractors
and junk) as .npy + labels.csv, then times:
  numpy  : distance matrix (one matmul, as torchreid), argsort of every row, the per-query loop;
  tripindex eval : the whole process (reading the files, distances, metrics, JSON output).
Both use the same thread count (OMP/OpenBLAS threads for numpy). Prints rank-1/mAP/mINP of both
and the speed ratio. Needs numpy (PyPI); tripindex does not.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_env  # noqa: E402

if __name__ == "__main__":
    blas_env.unpin_for_numpy()
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """torchreid's eval_market1501, restated."""
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1, kind="stable")
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_ap, all_inp = [], [], []
    for q_idx in range(num_q):
        order = indices[q_idx]
        remove = ((g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])) | (g_pids[order] == -1)
        raw_cmc = matches[q_idx][~remove]
        if not np.any(raw_cmc) or q_pids[q_idx] <= 0:
            continue
        cmc = raw_cmc.cumsum()
        pos_idx = np.where(raw_cmc == 1)
        all_inp.append(cmc[np.max(pos_idx)] / (np.max(pos_idx) + 1.0))
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        num_rel = raw_cmc.sum()
        tmp = raw_cmc.cumsum() / (np.arange(len(raw_cmc)) + 1.0) * raw_cmc
        all_ap.append(tmp.sum() / num_rel)
    return np.asarray(all_cmc).astype(np.float64).mean(0), np.mean(all_ap), np.mean(all_inp)


def make_set(rng, count, pids, cameras, dim, centres, camera_shift):
    features = centres[pids] + camera_shift[cameras] + rng.normal(scale=1.8, size=(count, dim))
    return features.astype(np.float32)


def make_problem(rng, queries, gallery, dim, identities):
    """Market-1501-like features: identities seen by 6 cameras (a shift per camera), 15 %
    distractors (pid 0) and 7 % junk (pid -1) in the gallery. Returns query and gallery features,
    pids and cameras, then the identity centres and camera shifts."""
    centres = rng.normal(size=(identities + 1, dim))
    camera_shift = rng.normal(scale=0.6, size=(7, dim))
    q_pids = rng.integers(1, identities + 1, size=queries)
    q_cams = rng.integers(1, 7, size=queries)
    g_pids = rng.integers(1, identities + 1, size=gallery)
    g_kind = rng.random(gallery)
    g_pids[g_kind < 0.15] = 0   # distractors
    g_pids[g_kind > 0.93] = -1  # junk
    g_cams = rng.integers(1, 7, size=gallery)
    q_feats = make_set(rng, queries, q_pids, q_cams, dim, centres, camera_shift)
    g_feats = make_set(rng, gallery, np.maximum(g_pids, 0), g_cams, dim, centres, camera_shift)
    return q_feats, g_feats, q_pids, q_cams, g_pids, g_cams, centres, camera_shift


def write_set(folder, features, pids, cameras):
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "feats.npy"), features)
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("name,pid,camera\n")
        for i, (p, c) in enumerate(zip(pids, cameras)):
            f.write(f"item{i:06d},{p},{c}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=15913)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--same-kernels", action="store_true",
                        help="numpy keeps the machine's OPENBLAS_CORETYPE pin (see blas_env.py)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    q_feats, g_feats, q_pids, q_cams, g_pids, g_cams = make_problem(
        rng, args.queries, args.gallery, args.dim, 751)[:6]

    with tempfile.TemporaryDirectory() as scratch:
        write_set(os.path.join(scratch, "query"), q_feats, q_pids, q_cams)
        write_set(os.path.join(scratch, "gallery"), g_feats, g_pids, g_cams)
        command = [args.tripindex, "eval", "--query", os.path.join(scratch, "query"), "--gallery",
                   os.path.join(scratch, "gallery"), "--json", "--quiet", "--threads", str(args.threads)]
        best_ours = float("inf")
        for _ in range(args.runs):
            start = time.perf_counter()
            output = subprocess.run(command, check=True, stdout=subprocess.PIPE, env=blas_env.tool_env()).stdout
            best_ours = min(best_ours, time.perf_counter() - start)
        ours = json.loads(output)["methods"][0]

    best_numpy = best_metrics = float("inf")
    for _ in range(args.runs):
        start = time.perf_counter()
        q = q_feats.astype(np.float32)
        g = g_feats.astype(np.float32)
        distmat = (q ** 2).sum(1, keepdims=True) + (g ** 2).sum(1) - 2 * q @ g.T
        computed = time.perf_counter()
        cmc, mAP, mINP = market1501(distmat, q_pids, g_pids, q_cams, g_cams)
        done = time.perf_counter()
        best_numpy = min(best_numpy, done - start)
        best_metrics = min(best_metrics, done - computed)

    print(f"problem: {args.queries} queries x {args.gallery} gallery, {args.dim}-d, Market-1501 protocol, "
          f"threads={args.threads}")
    print(blas_env.describe())
    print(f"{'':34s} {'rank-1':>8s} {'mAP':>8s} {'mINP':>8s} {'seconds':>8s}")
    print(f"{'numpy (torchreid eval_market1501)':34s} {cmc[0]:8.4f} {mAP:8.4f} {mINP:8.4f} {best_numpy:8.3f}")
    print(f"{'  of which metrics after distmat':34s} {'':8s} {'':8s} {'':8s} {best_metrics:8.3f}")
    print(f"{'tripindex eval (whole process)':34s} {ours['rank1']:8.4f} {ours['map']:8.4f} {ours['minp']:8.4f} {best_ours:8.3f}")
    print(f"speed ratio tripindex / numpy: {best_numpy / best_ours:.1f}x "
          f"(numpy's metric step alone: {best_metrics / best_ours:.1f}x)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
