"""Approximate search on one data set, side by side in one run: tripindex (exact, the setting
`tripindex tune` chooses, and a sweep of LSH settings) against FAISS (exact, IndexLSH + refine,
HNSW, IVF-Flat), hnswlib, Annoy and FALCONN (whichever are installed).

    python3 ann_suite.py DATA_DIR [--name NAME] [--tripindex PATH] [-k 10] [--threads 2]
                         [--runs 3] [--queries N] [--out Benchmarks/results] [--quick]

DATA_DIR holds base.fvecs and queries.fvecs (make_patches.py, make_clustered.py,
make_reid_embeddings.sh write them). The queries are never in the base.

Recall@k follows ann-benchmarks exactly: a returned item counts when its Euclidean distance is
within the true k-th distance + 1e-3 (Euclidean, not squared); ground truth from float64
(FAISS's exact top-k recomputed in float64). Strict recall (no tolerance) is reported beside it.

QPS is the batch rate over all queries with --threads threads, the best of --runs runs:
  search : the search alone (tripindex: what `query --timing` reports; the libraries: the call);
  process: tripindex only, the whole `tripindex query --json` process (start-up, opening the
           store, reading probes, searching, writing JSON lines).
Annoy answers one query per Python call (no batch API): its QPS includes that overhead.
Build and tune seconds, and index bytes (tripindex: the growth of data.mdb when the index is
added; the libraries: their serialised size) are reported too. Writes NAME.txt and NAME.json
to --out.

Needs numpy and faiss-cpu; hnswlib, annoy and falconn are optional (PyPI). None of them is a
dependency of tripindex.
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
from ann_plot import svg_plot  # noqa: E402

DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")
# efSearch of the graphs, from k itself up: the smallest ef reaching tripindex's recall is the
# graph a user would pick at that recall.
HNSW_EFS = [10, 12, 16, 24, 32, 64, 128]
# nprobe of FAISS IVF-Flat (nlist = 4 sqrt(n), a power of two: 1,024 at 100k, 4,096 at 1M).
IVF_NPROBES = [1, 2, 4, 8, 16, 32, 64, 128]


def write_fvecs(path, x):
    out = np.empty((len(x), x.shape[1] + 1), dtype="<f4")
    out[:, 0] = np.array([x.shape[1]], dtype="<i4").view("<f4")[0]
    out[:, 1:] = x
    out.tofile(path)


def true_kth(xb, xq, k):
    """The true k-th Euclidean distance of every query (FAISS's exact top-k, recomputed in float64)."""
    import faiss
    index = faiss.IndexFlatL2(xb.shape[1])
    index.add(xb)
    _, ids = index.search(xq, k + 10)
    out = np.empty(len(xq))
    for i in range(len(xq)):
        d = np.sqrt(((xb[ids[i]].astype(np.float64) - xq[i].astype(np.float64)) ** 2).sum(1))
        out[i] = np.sort(d)[k - 1]
    return out


def recalls(ids, xb, xq, kth, k):
    """(ann-benchmarks recall, strict recall) of returned ids (-1 = nothing)."""
    hits = strict = 0
    for i in range(len(xq)):
        row = np.asarray(ids[i])
        row = row[row >= 0][:k]
        if len(row) == 0:
            continue
        d = np.sqrt(((xb[row].astype(np.float64) - xq[i].astype(np.float64)) ** 2).sum(1))
        hits += int((d <= kth[i] + 1e-3).sum())
        strict += int((d <= kth[i]).sum())
    return hits / (len(xq) * k), strict / (len(xq) * k)


def store_bytes(store):
    return os.path.getsize(os.path.join(store, "data.mdb"))


def run_tripindex(tool, queries, store, k, threads, runs, extra):
    best_search = best_process = float("inf")
    output = b""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([tool, "query", queries, "-k", str(k), "--store", store, "--json", "--timing",
                               "--threads", str(threads)] + extra, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        best_process = min(best_process, time.perf_counter() - start)
        match = re.search(r"search ([0-9.]+) s", done.stderr.decode())
        best_search = min(best_search, float(match.group(1)))
        output = done.stdout
    rows = [json.loads(line) for line in output.decode().splitlines()]
    ids = [[n["id"] for n in r["neighbors"]] + [-1] * (k - len(r["neighbors"])) for r in rows]
    candidates = float(np.mean([r.get("candidates", 0) for r in rows]))
    return ids, best_search, best_process, candidates


def seconds(call):
    """Wall seconds of one call."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def smallest_reaching(rows, method, label, values, recall):
    """The sweep's row of a peer (a graph, IVF) at the smallest search parameter (ef, nprobe)
    whose recall reaches `recall` (the setting a user would pick at that recall), or None."""
    for value in values:
        row = next((r for r in rows if r["method"] == method and r["setting"] == label.format(value)), None)
        if row and row["recall"] >= recall:
            return value, row
    return None


def peer_rounds(args, say, rows, tuned_row, peers, timers, queries):
    """Tune's choice against our exact search, FAISS Flat and each peer (graphs, IVF) at the
    smallest ef or nprobe reaching tune's recall, each timed once per round in interleaved
    rounds; medians of the search QPS of `queries` queries, and tuned tripindex's ratio over
    each. Returns the figures (for the JSON)."""
    if args.rounds <= 0:
        return None
    contenders = dict(timers)
    for method, (label, values, set_value, search) in peers.items():
        reaching = smallest_reaching(rows, method, label, values, tuned_row["recall"])
        if reaching:
            value = reaching[0]
            contenders[method] = (label.format(value), lambda set_value=set_value, value=value, search=search:
                                  (set_value(value), seconds(search))[1])
    times = {method: [] for method in contenders}
    for _ in range(args.rounds):
        for method, (_, timer) in contenders.items():
            times[method].append(timer())
    say("")
    say(f"interleaved: {args.rounds} rounds, each timing every contender once; median search QPS "
        f"(graphs and IVF at the smallest ef or nprobe reaching tune's recall {tuned_row['recall']:.3f}):")
    medians = {method: queries / float(np.median(values)) for method, values in times.items()}
    tuned_qps = medians["tripindex tuned"]
    figures = []
    for method, (setting, _) in contenders.items():
        recall = next(r["recall"] for r in rows if r["method"] == method and (
            r["setting"] == setting or method.startswith("tripindex")))
        ratio = "" if method == "tripindex tuned" else f" -> tuned tripindex {tuned_qps / medians[method]:.2f}x"
        say(f"  {method:16s} {setting:34s} recall {recall:.3f} {medians[method]:9,.0f} QPS{ratio}")
        figures.append(dict(method=method, setting=setting, recall=recall, qps_search=medians[method],
                            seconds=times[method]))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--name", default=None)
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=0, help="use only the first N queries")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "results"))
    parser.add_argument("--quick", action="store_true", help="fewer settings")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the peer comparison (0: none)")
    args = parser.parse_args()
    import faiss

    name = args.name or os.path.basename(os.path.normpath(args.data))
    xb = read_fvecs(os.path.join(args.data, "base.fvecs"))
    xq = read_fvecs(os.path.join(args.data, "queries.fvecs"))
    if args.queries:
        xq = xq[: args.queries]
    scratch = tempfile.mkdtemp()
    query_path = os.path.join(scratch, "queries.fvecs")
    write_fvecs(query_path, xq)
    k, n, d = args.k, len(xq), xb.shape[1]
    kth = true_kth(xb, xq, k)
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    say(f"data: {name}: {len(xb):,} base x {d}, {n:,} queries (not in the base), k={k}, "
        f"threads={args.threads}, best of {args.runs}")
    rows = []  # dicts

    def add(method, setting, ids, qps_search, qps_process, candidates, build_s=None, index_bytes=None, tune_s=None):
        recall, strict = recalls(ids, xb, xq, kth, k)
        rows.append(dict(method=method, setting=setting, recall=recall, strict=strict, qps_search=qps_search,
                         qps_process=qps_process, candidates=candidates, build_s=build_s, tune_s=tune_s,
                         index_bytes=index_bytes))
        say(f"  {method:16s} {setting:34s} recall {recall:.4f} (strict {strict:.4f})  {qps_search:9,.0f} QPS"
            + (f" ({qps_process:,.0f} process)" if qps_process else "") + f"  {candidates:9,.0f} candidates")

    tool = args.tripindex
    store = os.path.join(scratch, "base.lmdb")
    base_path = os.path.join(scratch, "base.fvecs")
    write_fvecs(base_path, xb)
    start = time.perf_counter()
    subprocess.run([tool, "build", base_path, "--store", store, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    build_s = time.perf_counter() - start
    plain_bytes = store_bytes(store)
    say(f"tripindex build: {build_s:.2f} s, data.mdb {plain_bytes / 2**20:,.0f} MiB")
    ids, search, process, _ = run_tripindex(tool, query_path, store, k, args.threads, args.runs, ["--exact"])
    add("tripindex exact", "--exact", ids, n / search, n / process, len(xb), build_s, 0)
    exact_qps = n / search

    # What tune chooses (tuned on items held out of the index: it never sees these queries).
    tuned_store = os.path.join(scratch, "tuned.lmdb")
    subprocess.run(["cp", "-r", store, tuned_store], check=True)
    start = time.perf_counter()
    tuned = subprocess.run([tool, "tune", "--store", tuned_store, "--recall", "0.9", "--json", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    tune_s = time.perf_counter() - start
    verdict = json.loads(tuned.stdout)
    say(f"tune --recall 0.9: {tune_s:.1f} s -> {verdict['verdict']}")
    ids, search, process, candidates = run_tripindex(tool, query_path, tuned_store, k, args.threads, args.runs, [])
    add("tripindex tuned", "exact (tune's verdict)" if verdict["search"] == "exact" else "lsh (tune's choice)",
        ids, n / search, n / process, candidates if verdict["search"] == "lsh" else len(xb),
        build_s, store_bytes(tuned_store) - plain_bytes, tune_s)

    # A sweep of LSH settings (L, K, T); the width is estimated from the data.
    grid = [(4, 8, t) for t in (1, 2, 4, 8)] + [(8, 8, t) for t in (1, 2, 4)] + [(8, 10, t) for t in (2, 4, 8)] \
        + [(16, 10, t) for t in (1, 2, 4)]
    if args.quick:
        grid = grid[::2]
    built = None
    for tables, bits, probes in grid:
        if built != (tables, bits):
            start = time.perf_counter()
            subprocess.run([tool, "index", "--store", store, "--family", "pstable", "--tables", str(tables),
                            "--bits", str(bits)], check=True, stdout=subprocess.DEVNULL)
            index_s = time.perf_counter() - start
            built = (tables, bits)
        ids, search, process, candidates = run_tripindex(tool, query_path, store, k, args.threads, args.runs,
                                                         ["--probes", str(probes), "--budget", "0"])
        add("tripindex lsh", f"pstable L{tables} K{bits} T{probes}", ids, n / search, n / process, candidates,
            index_s, store_bytes(store) - plain_bytes)

    faiss.omp_set_num_threads(args.threads)

    def time_batch(search):
        best, ids = float("inf"), None
        for _ in range(args.runs):
            start = time.perf_counter()
            ids = search()
            best = min(best, time.perf_counter() - start)
        return ids, n / best

    flat = faiss.IndexFlatL2(d)
    flat.add(xb)
    ids, qps = time_batch(lambda: flat.search(xq, k)[1])
    add("faiss exact", "IndexFlatL2", ids, qps, None, len(xb), 0, 0)
    for nbits in ([512, 1024] if args.quick else [256, 512, 1024, 2048]):
        start = time.perf_counter()
        lsh = faiss.IndexLSH(d, nbits, True, True)
        lsh.train(xb)
        lsh.add(xb)
        lsh_s = time.perf_counter() - start
        for factor in ([20, 100] if args.quick else [10, 50, 100, 200]):
            refine = faiss.IndexRefineFlat(lsh, faiss.swig_ptr(xb))
            refine.k_factor = factor
            ids, qps = time_batch(lambda: refine.search(xq, k)[1])
            add("faiss lsh+refine", f"IndexLSH {nbits} bits, refine x{factor}", ids, qps, None, k * factor, lsh_s,
                len(xb) * nbits // 8)
    start = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(d, 32)
    hnsw.add(xb)
    hnsw_s = time.perf_counter() - start
    hnsw_bytes = len(faiss.serialize_index(hnsw)) - xb.nbytes
    peers = {"faiss hnsw": ("HNSW32 ef{}", HNSW_EFS, lambda ef: setattr(hnsw.hnsw, "efSearch", max(ef, k)),
                            lambda: hnsw.search(xq, k))}
    for ef in HNSW_EFS:
        hnsw.hnsw.efSearch = max(ef, k)
        ids, qps = time_batch(lambda: hnsw.search(xq, k)[1])
        add("faiss hnsw", f"HNSW32 ef{ef}", ids, qps, None, 0, hnsw_s, hnsw_bytes)
    try:
        import hnswlib
        start = time.perf_counter()
        index = hnswlib.Index(space="l2", dim=d)
        index.init_index(max_elements=len(xb), M=16, ef_construction=200)
        index.set_num_threads(args.threads)
        index.add_items(xb)
        hnswlib_s = time.perf_counter() - start
        path = os.path.join(scratch, "hnswlib.bin")
        index.save_index(path)
        hnswlib_bytes = os.path.getsize(path) - xb.nbytes
        peers["hnswlib"] = ("M16 ef{}", HNSW_EFS, lambda ef: index.set_ef(max(ef, k)),
                            lambda: index.knn_query(xq, k=k))
        for ef in HNSW_EFS:
            index.set_ef(max(ef, k))
            ids, qps = time_batch(lambda: index.knn_query(xq, k=k)[0])
            add("hnswlib", f"M16 ef{ef}", ids, qps, None, 0, hnswlib_s, hnswlib_bytes)
    except ImportError:
        say("  (hnswlib not installed)")
    # IVF-Flat: k-means cells (the FAISS default training sample, at most 256 points a cell),
    # each query scans its nprobe nearest cells exactly.
    nlist = 1 << max(4, round(np.log2(4 * np.sqrt(len(xb)))))
    start = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    ivf.train(xb)
    ivf.add(xb)
    ivf_s = time.perf_counter() - start
    ivf_bytes = len(faiss.serialize_index(ivf)) - xb.nbytes
    ivf_label = f"IVF{nlist},Flat nprobe {{}}"
    peers["faiss ivf"] = (ivf_label, IVF_NPROBES, lambda nprobe: setattr(ivf, "nprobe", nprobe),
                          lambda: ivf.search(xq, k))
    for nprobe in IVF_NPROBES:
        ivf.nprobe = nprobe
        ids, qps = time_batch(lambda: ivf.search(xq, k)[1])
        add("faiss ivf", ivf_label.format(nprobe), ids, qps, None, 0, ivf_s, ivf_bytes)
    try:
        import annoy
        start = time.perf_counter()
        forest = annoy.AnnoyIndex(d, "euclidean")
        for i, v in enumerate(xb):
            forest.add_item(i, v)
        forest.build(50, n_jobs=args.threads)
        annoy_s = time.perf_counter() - start
        path = os.path.join(scratch, "annoy.ann")
        forest.save(path)
        annoy_bytes = os.path.getsize(path)
        for search_k in ([5000, 20000] if args.quick else [2000, 5000, 10000, 20000]):
            # Annoy has no batch search: one Python call per query, on one thread.
            ids, qps = time_batch(lambda: [forest.get_nns_by_vector(v, k, search_k=search_k) for v in xq])
            add("annoy", f"50 trees, search_k {search_k} (1 thread)", ids, qps, None, search_k, annoy_s, annoy_bytes)
    except ImportError:
        say("  (annoy not installed)")
    try:
        import falconn
        start = time.perf_counter()
        params = falconn.get_default_parameters(len(xb), d, falconn.DistanceFunction.EuclideanSquared)
        params.l = 10
        falconn.compute_number_of_hash_functions(18, params)
        centre = xb.mean(axis=0)
        table = falconn.LSHIndex(params)
        data = (xb - centre).astype(np.float32)
        table.setup(data)
        falconn_s = time.perf_counter() - start
        queries = (xq - centre).astype(np.float32)
        for probes in ([40, 160] if args.quick else [10, 40, 160, 640]):
            query = table.construct_query_object(num_probes=probes)
            ids, qps = time_batch(lambda: [query.find_k_nearest_neighbors(v, k) for v in queries])
            add("falconn", f"cross-polytope L10, {probes} probes (1 thread)", ids, qps, None, 0, falconn_s, None)
    except ImportError:
        say("  (falconn not installed)")

    say("")
    say(f"{'method':17s} {'setting':36s} {'recall@10':>9s} {'strict':>7s} {'QPS search':>11s} {'QPS process':>12s} "
        f"{'candidates':>10s} {'build s':>8s} {'tune s':>7s} {'index MiB':>10s}")
    for r in rows:
        say(f"{r['method']:17s} {r['setting']:36s} {r['recall']:9.4f} {r['strict']:7.4f} {r['qps_search']:11,.0f} "
            + (f"{r['qps_process']:12,.0f} " if r["qps_process"] else f"{'-':>12s} ")
            + f"{r['candidates']:10,.0f} " + (f"{r['build_s']:8.1f} " if r["build_s"] is not None else f"{'-':>8s} ")
            + (f"{r['tune_s']:7.1f} " if r["tune_s"] is not None else f"{'-':>7s} ")
            + (f"{r['index_bytes'] / 2**20:10.1f}" if r["index_bytes"] is not None else f"{'-':>10s}"))

    def best_at(method, key="qps_search", target=0.9):
        eligible = [r for r in rows if r["method"] == method and r["recall"] >= target]
        return max(eligible, key=lambda r: r[key]) if eligible else None

    say("")
    say("at recall@10 >= 0.90 (best QPS of each method; ratios are tripindex's over the other):")
    ours = best_at("tripindex lsh")
    tuned_row = next(r for r in rows if r["method"] == "tripindex tuned")
    say(f"  tripindex exact: {exact_qps:,.0f} QPS search")
    say(f"  tripindex tuned ({tuned_row['setting']}): recall {tuned_row['recall']:.3f}, "
        f"{tuned_row['qps_search']:,.0f} QPS search, {tuned_row['qps_process']:,.0f} process "
        f"= {tuned_row['qps_search'] / exact_qps:.2f}x exact")
    if ours:
        say(f"  tripindex lsh best of sweep: {ours['setting']}, recall {ours['recall']:.3f}, {ours['qps_search']:,.0f} QPS "
            f"= {ours['qps_search'] / exact_qps:.2f}x exact")
    else:
        say("  tripindex lsh: no setting of the sweep reached 0.90")
    reference = max([r for r in (ours, tuned_row) if r and r["recall"] >= 0.9], key=lambda r: r["qps_search"],
                    default=None)
    for method in ["faiss exact", "faiss lsh+refine", "faiss hnsw", "faiss ivf", "hnswlib", "annoy", "falconn"]:
        other = best_at(method, target=0.0 if method == "faiss exact" else 0.9)
        if other is None:
            if any(r["method"] == method for r in rows):
                say(f"  {method}: no setting reached 0.90")
            continue
        ratio = f" -> tripindex {reference['qps_search'] / other['qps_search']:.2f}x" if reference else ""
        say(f"  {method}: {other['setting']}, recall {other['recall']:.3f}, {other['qps_search']:,.0f} QPS{ratio}")
    # The measure: each graph (and IVF) at the smallest ef (nprobe) reaching the recall
    # tripindex reached (tune's choice).
    for method, (label, values, _, _) in peers.items():
        reaching = smallest_reaching(rows, method, label, values, tuned_row["recall"])
        if reaching is None:
            say(f"  {method}: no setting reached tune's recall {tuned_row['recall']:.3f}")
            continue
        same = reaching[1]
        say(f"  {method} at tune's recall ({tuned_row['recall']:.3f}): {same['setting']}, recall "
            f"{same['recall']:.3f}, {same['qps_search']:,.0f} QPS -> tuned tripindex "
            f"{tuned_row['qps_search'] / same['qps_search']:.2f}x")
    interleaved = peer_rounds(args, say, rows, tuned_row, peers, {
        "tripindex exact": ("--exact", lambda: run_tripindex(tool, query_path, store, k, args.threads, 1,
                                                             ["--exact"])[1]),
        "tripindex tuned": (tuned_row["setting"],
                            lambda: run_tripindex(tool, query_path, tuned_store, k, args.threads, 1, [])[1]),
        "faiss exact": ("IndexFlatL2", lambda: seconds(lambda: flat.search(xq, k))),
    }, n)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{name}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(dict(data=name, base=len(xb), dimension=d, queries=n, k=k, threads=args.threads,
                       tune=verdict, rows=rows, interleaved=interleaved), f, indent=1)
    series = {}
    for r in rows:
        series.setdefault(r["method"], []).append((r["recall"], r["qps_search"], r["setting"]))
    svg_plot(series, os.path.join(args.out, f"{name}.svg"), f"recall@{k} vs QPS ({name}, {args.threads} threads)")
    say(f"wrote {args.out}/{name}.txt, .json, .svg")


if __name__ == "__main__":
    main()
