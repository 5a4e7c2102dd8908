"""k-reciprocal re-ranking, side by side: `tripindex eval --rerank` against torchreid's numpy
`re_ranking` (Zhong et al. 2017, the authors' code as torchreid 0.2.5 ships it).

    pip download --no-deps torchreid==0.2.5 && tar xzf torchreid-0.2.5.tar.gz
    python3 compare_rerank_torchreid.py --torchreid torchreid-0.2.5 [--queries 3368] [--gallery 15913]
        [--dim 256] [--identities 751] [--distractors 0] [--seed 0] [--k1 20 --k2 6 --lambda 0.3] [--runs 1]
        [--fixture OUT.json] [--tripindex PATH]

The reference file is loaded from the unpacked source (read, never copied). Both sides get the
same synthetic Market-1501-like features (identities seen by 6 cameras, distractors, junk). The
reference gets Euclidean distances (computed in float64), as torchreid's `re_ranking` expects;
its final distances are scored with torchreid's Market-1501 rules restated in
compare_metrics_numpy.py (stable sort: ties by gallery order, as tripindex ranks them). Prints
both sides' metrics, their largest difference, both wall times (the reference: distances,
re-ranking and metrics; tripindex: the whole process, reading the files included) and peak RSS.
`--fixture` also writes the problem and the reference's final distances as JSON (for small
problems: the unit test's data). Needs numpy; tripindex does not.
"""
import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_env  # noqa: E402

if __name__ == "__main__":
    blas_env.unpin_for_numpy()
import numpy as np  # noqa: E402
from compare_metrics_numpy import make_problem as market_like  # noqa: E402
from compare_metrics_numpy import market1501, write_set  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def load_reference(root):
    path = os.path.join(root, "torchreid", "reid", "utils", "rerank.py")
    if not os.path.exists(path):
        sys.exit(f"{path} not found: pip download --no-deps torchreid==0.2.5 and unpack it")
    spec = importlib.util.spec_from_file_location("torchreid_rerank", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.re_ranking


def euclidean(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    squared = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0))


def make_problem(args):
    rng = np.random.default_rng(args.seed)
    q, g, q_pids, q_cams, g_pids, g_cams, _, camera_shift = market_like(
        rng, args.queries, args.gallery, args.dim, args.identities)
    if args.distractors:
        # Market-1501's 500k distractor set: other people, seen by the same cameras.
        others = rng.normal(size=(max(1, args.distractors // 20), args.dim))
        owner = rng.integers(0, len(others), size=args.distractors)
        d_cams = rng.integers(1, 7, size=args.distractors)
        extra = (others[owner] + camera_shift[d_cams]
                 + rng.normal(scale=1.8, size=(args.distractors, args.dim))).astype(np.float32)
        g = np.concatenate([g, extra])
        g_pids = np.concatenate([g_pids, np.zeros(args.distractors, dtype=g_pids.dtype)])
        g_cams = np.concatenate([g_cams, d_cams])
    return q, g, q_pids, q_cams, g_pids, g_cams


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--torchreid", required=True, help="the unpacked torchreid-0.2.5 sdist")
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=15913)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--identities", type=int, default=751)
    parser.add_argument("--distractors", type=int, default=0,
                        help="extra gallery items (pid 0) around identities no query has")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k1", type=int, default=20)
    parser.add_argument("--k2", type=int, default=6)
    parser.add_argument("--lambda", dest="lambda_value", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--distance", choices=["euclidean", "squared"], default="euclidean",
                        help="what both are given: Euclidean distances (the reference's input) or "
                             "squared ones (what torchreid's engine passes re_ranking)")
    parser.add_argument("--fixture")
    parser.add_argument("--skip-reference", action="store_true", help="time tripindex only")
    args = parser.parse_args()

    q, g, q_pids, q_cams, g_pids, g_cams = make_problem(args)
    with tempfile.TemporaryDirectory() as scratch:
        write_set(os.path.join(scratch, "query"), q, q_pids, q_cams)
        write_set(os.path.join(scratch, "gallery"), g, g_pids, g_cams)
        command = ["/usr/bin/time", "-f", "%M", args.tripindex, "eval", "--query",
                   os.path.join(scratch, "query"), "--gallery", os.path.join(scratch, "gallery"),
                   "--rerank", "--k1", str(args.k1), "--k2", str(args.k2), "--lambda",
                   str(args.lambda_value), "--rerank-distance", args.distance, "--json", "--quiet",
                   "--threads", str(args.threads)]
        ours_seconds = float("inf")
        for _ in range(args.runs):
            start = time.perf_counter()
            run = subprocess.run(command, check=True, capture_output=True, text=True,
                                 env=blas_env.tool_env())
            ours_seconds = min(ours_seconds, time.perf_counter() - start)
        ours_rss = int(run.stderr.strip().splitlines()[-1]) / 1024
        methods = {m["name"]: m for m in json.loads(run.stdout)["methods"]}
        ours = methods["exact+rerank"]

    print(f"problem: {args.queries} queries x {args.gallery} + {args.distractors} gallery, {args.dim}-d, "
          f"{args.identities} identities, seed {args.seed}; k1 {args.k1}, k2 {args.k2}, "
          f"lambda {args.lambda_value}; threads={args.threads}")
    print(blas_env.describe())
    print(f"{'':34s} {'rank-1':>8s} {'mAP':>10s} {'mINP':>10s} {'seconds':>9s} {'peak MiB':>9s}")
    print(f"{'tripindex eval --rerank':34s} {ours['rank1']:8.4f} {ours['map']:10.6f} "
          f"{ours['minp']:10.6f} {ours_seconds:9.2f} {ours_rss:9.0f}")
    if args.skip_reference:
        return
    re_ranking = load_reference(args.torchreid)
    reference_seconds = float("inf")
    for _ in range(args.runs):
        start = time.perf_counter()
        power = 2 if args.distance == "squared" else 1
        final = re_ranking(euclidean(q, g) ** power, euclidean(q, q) ** power,
                           euclidean(g, g) ** power,
                           k1=args.k1, k2=args.k2, lambda_value=args.lambda_value)
        cmc, mAP, mINP = market1501(final, q_pids, g_pids, q_cams, g_cams)
        reference_seconds = min(reference_seconds, time.perf_counter() - start)
    reference_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'torchreid re_ranking (numpy)':34s} {cmc[0]:8.4f} {mAP:10.6f} {mINP:10.6f} "
          f"{reference_seconds:9.2f} {reference_rss:9.0f}")
    ours_cmc = np.array(ours["cmc"][:len(cmc)])
    print(f"largest difference: mAP {abs(ours['map'] - mAP):.2e}, mINP {abs(ours['minp'] - mINP):.2e}, "
          f"CMC {np.max(np.abs(ours_cmc - cmc)):.2e}")
    print(f"speed ratio tripindex / numpy: {reference_seconds / ours_seconds:.1f}x")
    if args.fixture:
        with open(args.fixture, "w") as f:
            json.dump({
                "source": f"torchreid 0.2.5 re_ranking on {args.distance} Euclidean distances "
                          "(float64); Benchmarks/scripts/compare_rerank_torchreid.py",
                "distance": args.distance,
                "k1": args.k1, "k2": args.k2, "lambda": args.lambda_value,
                "queries": q.tolist(), "gallery": g.tolist(),
                "query_pids": q_pids.tolist(), "query_cameras": q_cams.tolist(),
                "gallery_pids": g_pids.tolist(), "gallery_cameras": g_cams.tolist(),
                "final_distances": final.astype(float).tolist(),
                "mAP": mAP, "mINP": mINP, "cmc": cmc.tolist(),
            }, f)
        print(f"wrote {args.fixture}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
