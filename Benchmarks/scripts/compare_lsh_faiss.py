"""Approximate search, side by side: tripindex's LSH index against FAISS's IndexLSH + IndexRefineFlat,
IndexFlatL2 (exact) and IndexHNSWFlat, on the same .fvecs files, in one run.

    python3 compare_lsh_faiss.py DATA_DIR [--tripindex PATH] [-k 10] [--threads 2] [--runs 3] [--svg OUT.svg]

DATA_DIR holds base.fvecs and queries.fvecs (make_patches.py writes a real 192-d set of image
patches; make_clustered.py a synthetic one). Recall@k follows ann-benchmarks: the fraction of
returned items whose true distance is within the true k-th distance (+1e-3, relative 1e-5 for
large squared distances), so exact ties count. QPS is the batch rate over all queries with
--threads threads (the best of --runs runs):
  tripindex search : the search alone, as `tripindex query --timing` reports it;
  tripindex process: the whole `tripindex query --json` process (start-up, opening the store,
                     loading the tables, reading probes, writing JSON lines);
  FAISS            : `index.search` alone.
tripindex settings swept: the ones `tripindex tune` picks for recall 0.9 and 0.95, plus a grid
of p-stable widths and probes. Prints a table, the Pareto frontier per method, the ratios at
recall ≥ 0.9, and writes an SVG plot of recall against QPS.

Needs numpy and faiss-cpu (PyPI); neither is a dependency of tripindex.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fvecs import read_fvecs  # noqa: E402

DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def true_kth(xb, xq, k):
    """The true k-th squared distance of every query: FAISS's exact top-k (float32), with the
    distances of those k items recomputed in float64."""
    import faiss
    index = faiss.IndexFlatL2(xb.shape[1])
    index.add(xb)
    _, ids = index.search(xq, k)
    out = np.empty(len(xq))
    for i in range(len(xq)):
        d = ((xb[ids[i]].astype(np.float64) - xq[i].astype(np.float64)) ** 2).sum(1)
        out[i] = d.max()
    return out


def recall_of(ids, xb, xq, kth, k):
    ids = np.asarray(ids)
    hits = 0
    for i in range(len(xq)):
        row = ids[i][ids[i] >= 0][:k]
        if len(row) == 0:
            continue
        d = ((xb[row].astype(np.float64) - xq[i].astype(np.float64)) ** 2).sum(1)
        hits += int((d <= kth[i] * (1 + 1e-5) + 1e-3).sum())
    return hits / (len(xq) * k)


def run_tripindex(tool, queries, store, k, threads, runs, extra):
    best_search = best_process = float("inf")
    output = b""
    stderr = ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([tool, "query", queries, "-k", str(k), "--store", store, "--json", "--timing",
                               "--threads", str(threads)] + extra, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        best_process = min(best_process, time.perf_counter() - start)
        stderr = done.stderr.decode()
        match = re.search(r"search ([0-9.]+) s", stderr)
        best_search = min(best_search, float(match.group(1)))
        output = done.stdout
    rows = [json.loads(line) for line in output.decode().splitlines()]
    ids = [[int(n["name"].rsplit("#", 1)[1]) for n in r["neighbors"]] + [-1] * (k - len(r["neighbors"])) for r in rows]
    candidates = np.mean([r.get("candidates", 0) for r in rows])
    return ids, best_search, best_process, candidates


def pareto(points):
    """Points (recall, qps, label) not dominated by another of the same method."""
    points = sorted(points, key=lambda p: (-p[0], -p[1]))
    front, best = [], -1
    for p in points:
        if p[1] > best:
            front.append(p)
            best = p[1]
    return sorted(front)


def svg_plot(series, path, title):
    width, height, left, right, top, bottom = 760, 480, 70, 220, 40, 60
    pw, ph = width - left - right, height - top - bottom
    all_points = [p for pts in series.values() for p in pts]
    qps = [p[1] for p in all_points]
    lo, hi = np.log10(min(qps)) - 0.05, np.log10(max(qps)) + 0.05
    rlo = max(0.0, min(p[0] for p in all_points) - 0.02)
    x = lambda q: left + (np.log10(q) - lo) / (hi - lo) * pw
    y = lambda r: top + (1 - (r - rlo) / (1.0 - rlo)) * ph
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>']
    for e in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= np.log10(v) <= hi:
                out.append(f'<line x1="{x(v):.1f}" y1="{top}" x2="{x(v):.1f}" y2="{top + ph}" stroke="#eee"/>')
                out.append(f'<text x="{x(v):.1f}" y="{top + ph + 18}" text-anchor="middle">{v:,.0f}</text>')
    steps = np.arange(np.ceil(rlo * 20) / 20, 1.0001, 0.05)
    for r in steps:
        out.append(f'<line x1="{left}" y1="{y(r):.1f}" x2="{left + pw}" y2="{y(r):.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{left - 8}" y="{y(r) + 4:.1f}" text-anchor="end">{r:.2f}</text>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 18}" text-anchor="middle">queries per second (log scale)</text>')
    out.append(f'<text x="18" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {top + ph / 2})">recall@10</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = colours[i % len(colours)]
        front = pareto(pts)
        path_points = " ".join(f"{x(q):.1f},{y(r):.1f}" for r, q, _ in sorted(front, key=lambda p: p[1]))
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{path_points}"/>')
        for r, q, _ in pts:
            out.append(f'<circle cx="{x(q):.1f}" cy="{y(r):.1f}" r="3" fill="{c}" fill-opacity="0.6"/>')
        ly = top + 10 + i * 20
        out.append(f'<line x1="{left + pw + 16}" y1="{ly}" x2="{left + pw + 40}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw + 46}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--svg", default=None)
    parser.add_argument("--quick", action="store_true", help="fewer settings")
    parser.add_argument("--queries", type=int, default=0, help="use only the first N queries")
    args = parser.parse_args()
    import faiss

    base_path = os.path.join(args.data, "base.fvecs")
    query_path = os.path.join(args.data, "queries.fvecs")
    xb, xq = read_fvecs(base_path), read_fvecs(query_path)
    if args.queries:
        xq = xq[: args.queries]
        query_path = os.path.join(tempfile.mkdtemp(), "queries.fvecs")
        out = np.empty((len(xq), xq.shape[1] + 1), dtype="<f4")
        out[:, 0] = np.array([xq.shape[1]], dtype="<i4").view("<f4")[0]
        out[:, 1:] = xq
        out.tofile(query_path)
    k = args.k
    kth = true_kth(xb, xq, k)
    n = len(xq)
    print(f"data: {args.data}: {len(xb)} base x {xb.shape[1]}, {n} queries, k={k}, threads={args.threads}, best of {args.runs}")
    rows = []  # (method, setting, recall, qps_search, qps_process, candidates)

    with tempfile.TemporaryDirectory() as scratch:
        store = os.path.join(scratch, "base.lmdb")
        start = time.perf_counter()
        subprocess.run([args.tripindex, "build", base_path, "--store", store, "--quiet"], check=True, stdout=subprocess.DEVNULL)
        print(f"tripindex build: {time.perf_counter() - start:.2f} s")
        ids, search, process, _ = run_tripindex(args.tripindex, query_path, store, k, args.threads, args.runs, ["--exact"])
        rows.append(("tripindex exact", "--exact", recall_of(ids, xb, xq, kth, k), n / search, n / process, len(xb)))
        settings = []
        for target in (0.9, 0.95):
            start = time.perf_counter()
            tuned = subprocess.run([args.tripindex, "tune", "--store", store, "--recall", str(target), "--json", "--quiet"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if tuned.returncode == 0:
                chosen = json.loads(tuned.stdout)["chosen"]
                print(f"tune --recall {target}: {time.perf_counter() - start:.1f} s -> {chosen}")
                settings.append(("tuned " + str(target), chosen))
        # L, K, width multiplier, T, budget: K 8 suits ~100k vectors, K 10 and larger budgets ~1M.
        grid = ([(8, 8, 1.0, t, b) for t in (1, 2, 4, 8) for b in (1000, 1500, 3000)]
                + [(8, 10, 1.0, t, b) for t in (1, 2, 4) for b in (3000, 6000, 10000)])
        if args.quick:
            grid = grid[:12:3] + grid[12::2]
        for tables, bits, mult, probes, budget in grid:
            settings.append((f"L{tables} K{bits} T{probes} B{budget}",
                             {"family": "pstable", "tables": tables, "hashes_per_table": bits, "probes": probes,
                              "candidate_budget": budget, "width_multiplier": mult}))
        for label, setting in settings:
            command = [args.tripindex, "index", "--store", store, "--family", setting["family"],
                       "--tables", str(setting["tables"]), "--bits", str(setting["hashes_per_table"])]
            if setting.get("bucket_width"):
                command += ["--width", str(setting["bucket_width"])]
            if setting.get("hash_dimensions"):
                command += ["--hash-dimensions", str(setting["hash_dimensions"])]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            extra = ["--probes", str(setting["probes"]), "--budget", str(setting["candidate_budget"])]
            ids, search, process, candidates = run_tripindex(args.tripindex, query_path, store, k, args.threads, args.runs, extra)
            rows.append(("tripindex lsh", label, recall_of(ids, xb, xq, kth, k), n / search, n / process, candidates))
            print(f"  {label}: recall {rows[-1][2]:.3f}, {rows[-1][3]:,.0f} QPS search, {rows[-1][4]:,.0f} QPS process, {candidates:,.0f} candidates", flush=True)

    faiss.omp_set_num_threads(args.threads)

    def time_faiss(index):
        best, ids = float("inf"), None
        for _ in range(args.runs):
            start = time.perf_counter()
            _, ids = index.search(xq, k)
            best = min(best, time.perf_counter() - start)
        return ids, n / best

    flat = faiss.IndexFlatL2(xb.shape[1])
    flat.add(xb)
    ids, qps = time_faiss(flat)
    rows.append(("faiss exact", "IndexFlatL2", recall_of(ids, xb, xq, kth, k), qps, qps, len(xb)))
    for nbits in ([512, 1024] if args.quick else [256, 512, 1024, 2048]):
        lsh = faiss.IndexLSH(xb.shape[1], nbits, True, True)
        lsh.train(xb)
        lsh.add(xb)
        for factor in ([50, 100] if args.quick else [10, 50, 100, 200]):
            refine = faiss.IndexRefineFlat(lsh, faiss.swig_ptr(xb))
            refine.k_factor = factor
            ids, qps = time_faiss(refine)
            rows.append(("faiss lsh+refine", f"IndexLSH {nbits} bits, refine x{factor}", recall_of(ids, xb, xq, kth, k), qps, qps, k * factor))
            print(f"  faiss lsh {nbits} refine x{factor}: recall {rows[-1][2]:.3f}, {qps:,.0f} QPS", flush=True)
    hnsw = faiss.IndexHNSWFlat(xb.shape[1], 32)
    hnsw.add(xb)
    for ef in [16, 32, 64, 128]:
        hnsw.hnsw.efSearch = ef
        ids, qps = time_faiss(hnsw)
        rows.append(("faiss hnsw", f"HNSW32 ef{ef}", recall_of(ids, xb, xq, kth, k), qps, qps, 0))

    print(f"\n{'method':18s} {'setting':34s} {'recall@10':>9s} {'QPS search':>11s} {'QPS process':>12s} {'candidates':>10s}")
    for method, setting, recall, qs, qp, cand in rows:
        print(f"{method:18s} {setting:34s} {recall:9.4f} {qs:11,.0f} {qp:12,.0f} {cand:10,.0f}")

    def best_at(method, column, target=0.9):
        eligible = [r for r in rows if r[0] == method and r[2] >= target]
        return max(eligible, key=lambda r: r[column]) if eligible else None

    ours_search, ours_process = best_at("tripindex lsh", 3), best_at("tripindex lsh", 4)
    faiss_lsh, faiss_exact = best_at("faiss lsh+refine", 3), best_at("faiss exact", 3, 0.0)
    print("\nat recall@10 >= 0.90:")
    if ours_search:
        print(f"  tripindex LSH best: {ours_search[1]} -> {ours_search[3]:,.0f} QPS search ({ours_search[2]:.3f}); "
              f"best whole process: {ours_process[1]} -> {ours_process[4]:,.0f} QPS ({ours_process[2]:.3f})")
    if faiss_lsh:
        print(f"  FAISS LSH+refine best: {faiss_lsh[1]} -> {faiss_lsh[3]:,.0f} QPS ({faiss_lsh[2]:.3f})")
    print(f"  FAISS exact: {faiss_exact[3]:,.0f} QPS")
    if ours_search and faiss_lsh:
        print(f"  ratio vs FAISS LSH+refine: {ours_search[3] / faiss_lsh[3]:.2f}x search, {ours_process[4] / faiss_lsh[3]:.2f}x whole process")
    if ours_search:
        print(f"  ratio vs FAISS exact:      {ours_search[3] / faiss_exact[3]:.2f}x search, {ours_process[4] / faiss_exact[3]:.2f}x whole process")
    if args.svg:
        series = {}
        for method, setting, recall, qs, qp, cand in rows:
            series.setdefault(method, []).append((recall, qs, setting))
        svg_plot(series, args.svg, f"recall@{k} vs QPS ({os.path.basename(os.path.normpath(args.data))}, {args.threads} threads)")
        print(f"wrote {args.svg}")


if __name__ == "__main__":
    main()
