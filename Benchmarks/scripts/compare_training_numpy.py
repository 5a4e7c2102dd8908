"""Training speed, side by side: `tripindex train` against the same network, batch and loss in numpy.

    python3 compare_training_numpy.py [DATA_DIR] [--iterations 3000] [--tripindex PATH] [--runs 3]

DATA_DIR (default: the shipped datasets/synth-reid/train) holds one .fvecs vector per file with
Market-1501 names (pid = the name's first field). Both sides train the default recipe:
inputs standardised, 96 → 256 (BatchNorm with batch statistics, ReLU) → 64, batch-hard triplet
loss with the soft margin (softplus) on Euclidean distances over P=16 identities × K=4 samples,
Adam (β 0.9/0.999, lr 3e-3) — forward, loss, backward and update every iteration.

Timed:
  numpy     : the training loop only (data already in memory, batches drawn in the loop);
  tripindex : the whole `tripindex train --validation 0` process (reading 2,016 files, training,
              writing the model), so the ratio is conservative for tripindex.
tripindex trains on one BLAS thread (bit-identical runs); numpy is timed with one BLAS thread
(the same) and with its default threads. Prints the median of --runs and the ratio, plus each
side's loss at the start and end so that both can be seen to learn. Needs numpy (PyPI).
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_env  # noqa: E402

if __name__ == "__main__":
    blas_env.unpin_for_numpy()

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")
DEFAULT_DATA = os.path.join(HERE, "..", "..", "datasets", "synth-reid", "train")


def load(folder):
    import numpy as np
    rows, pids = [], []
    for path in sorted(glob.glob(os.path.join(folder, "*.fvecs"))):
        raw = np.fromfile(path, dtype="<i4")
        d = raw[0]
        rows.append(raw.reshape(-1, d + 1)[:, 1:].view("<f4")[0])
        pids.append(int(os.path.basename(path).split("_")[0]))
    return np.stack(rows).astype(np.float32), np.array(pids)


def train_numpy(x, pids, iterations, seed=1, p=16, k=4, hidden=256, out=64, lr=3e-3):
    """The tripindex recipe in numpy (float32). Returns (first losses mean, last losses mean)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    keep = pids > 0
    x, pids = x[keep], pids[keep]
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    ids = np.unique(pids)
    by_id = {i: np.flatnonzero(pids == i) for i in ids}
    d = x.shape[1]
    params = {
        "w1": (rng.standard_normal((d, hidden)) * np.sqrt(2 / d)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "g": np.ones(hidden, np.float32), "beta": np.zeros(hidden, np.float32),
        "w2": (rng.standard_normal((hidden, out)) * np.sqrt(2 / hidden)).astype(np.float32),
        "b2": np.zeros(out, np.float32),
    }
    m = {n: np.zeros_like(v) for n, v in params.items()}
    v2 = {n: np.zeros_like(v) for n, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    losses = []
    for t in range(1, iterations + 1):
        chosen = rng.choice(ids, p, replace=False)
        rows = np.concatenate([rng.choice(by_id[i], k, replace=len(by_id[i]) < k) for i in chosen])
        labels = np.repeat(chosen, k)
        xb = x[rows]
        # Forward.
        h = xb @ params["w1"] + params["b1"]
        mu, var = h.mean(0), h.var(0)
        inv = 1 / np.sqrt(var + 1e-5)
        hn = (h - mu) * inv
        a = hn * params["g"] + params["beta"]
        r = np.maximum(a, 0)
        e = r @ params["w2"] + params["b2"]
        # Batch-hard soft margin on Euclidean distances.
        sq = (e * e).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * e @ e.T, 0)
        dist = np.sqrt(d2 + 1e-12)
        same = labels[:, None] == labels[None, :]
        n = len(rows)
        pos_mask = same & ~np.eye(n, dtype=bool)
        hp = np.where(pos_mask, dist, -np.inf).argmax(1)
        hn_idx = np.where(~same, dist, np.inf).argmin(1)
        idx = np.arange(n)
        margin = dist[idx, hp] - dist[idx, hn_idx]
        loss = np.logaddexp(0, margin).mean()
        losses.append(loss)
        # Backward.
        s = 1 / (1 + np.exp(-margin)) / n
        gd = np.zeros((n, n), np.float32)
        np.add.at(gd, (idx, hp), s)
        np.add.at(gd, (idx, hn_idx), -s)
        gd = gd / dist
        gd = gd + gd.T
        ge = (gd.sum(1)[:, None] * e - gd @ e).astype(np.float32)
        grads = {"w2": r.T @ ge, "b2": ge.sum(0)}
        gr = ge @ params["w2"].T
        ga = gr * (a > 0)
        grads["g"] = (ga * hn).sum(0)
        grads["beta"] = ga.sum(0)
        ghn = ga * params["g"]
        gh = inv / n * (n * ghn - ghn.sum(0) - hn * (ghn * hn).sum(0))
        grads["w1"] = xb.T @ gh
        grads["b1"] = gh.sum(0)
        # Adam.
        for name, g in grads.items():
            m[name] = b1 * m[name] + (1 - b1) * g
            v2[name] = b2 * v2[name] + (1 - b2) * g * g
            mh = m[name] / (1 - b1 ** t)
            vh = v2[name] / (1 - b2 ** t)
            params[name] -= (lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
    head = float(np.mean(losses[:100]))
    tail = float(np.mean(losses[-100:]))
    return head, tail


def time_numpy(x, pids, iterations, threads):
    """Runs the numpy loop in a child process with the given BLAS thread count."""
    env = dict(os.environ)
    if threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    with tempfile.TemporaryDirectory() as folder:
        np_path = os.path.join(folder, "data.npz")
        import numpy as np
        np.savez(np_path, x=x, pids=pids)
        code = (
            "import sys, time, numpy as np; sys.path.insert(0, %r); import compare_training_numpy as c; "
            "d = np.load(%r); s = time.perf_counter(); h, t = c.train_numpy(d['x'], d['pids'], %d); "
            "print(time.perf_counter() - s, h, t)" % (HERE, np_path, iterations))
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def time_tripindex(tool, data, iterations):
    with tempfile.TemporaryDirectory() as folder:
        model = os.path.join(folder, "model.tpm")
        start = time.perf_counter()
        done = subprocess.run(
            [tool, "train", data, "--out", model, "--iterations", str(iterations), "--validation", "0",
             "--keep-last"], check=True, capture_output=True, text=True, env=blas_env.tool_env())
        return time.perf_counter() - start, done.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", default=DEFAULT_DATA)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--same-kernels", action="store_true",
                        help="numpy keeps the machine's OPENBLAS_CORETYPE pin (see blas_env.py)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    x, pids = load(args.data)
    print(f"data: {args.data}: {len(x)} vectors, {x.shape[1]}-d, {len(set(pids[pids > 0]))} identities; "
          f"{args.iterations} iterations of 16x4 batches")
    ours, numpy_one, numpy_all = [], [], []
    summary = ""
    losses = {}
    for _ in range(args.runs):
        seconds, summary = time_tripindex(args.tripindex, args.data, args.iterations)
        ours.append(seconds)
        seconds, head, tail = time_numpy(x, pids, args.iterations, 1)
        numpy_one.append(seconds)
        losses["numpy"] = (head, tail)
        seconds, _, _ = time_numpy(x, pids, args.iterations, 0)
        numpy_all.append(seconds)
    med = statistics.median
    print(f"tripindex train (whole process, 1 BLAS thread): {med(ours):.3f} s  "
          f"({args.iterations / med(ours):,.0f} iterations/s)  [{summary}]")
    print(f"numpy loop only, 1 BLAS thread:                 {med(numpy_one):.3f} s  "
          f"({args.iterations / med(numpy_one):,.0f} iterations/s); loss first 100 "
          f"{losses['numpy'][0]:.3f} -> last 100 {losses['numpy'][1]:.3f}")
    print(f"numpy loop only, default BLAS threads:          {med(numpy_all):.3f} s  "
          f"({args.iterations / med(numpy_all):,.0f} iterations/s)")
    print(f"ratio (numpy time / tripindex time): {med(numpy_one) / med(ours):.2f}x at 1 thread, "
          f"{med(numpy_all) / med(ours):.2f}x against numpy's default threads "
          f"(medians of {args.runs} runs)")
    import numpy  # noqa: F401  (loaded, so that its BLAS can be named)
    print("kernels: " + blas_env.describe())


if __name__ == "__main__":
    main()
