"""`query --where` and the probe exclusions against numpy's filtered top-k, and what a filter costs.

    python3 check_filters_numpy.py [--tripindex PATH] [--items 100000] [--probes 1000] [--k 10]
        [--out DIR] [--target 0.9]

Two labelled sets of different structure, made here: "clustered" (64-d Gaussian blobs, pid and
camera drawn independently of position) and "reid" (128-d, each pid a blob seen by 6 cameras
with per-camera offsets, so labels follow the geometry). Each is stored twice: without an index
(exact search) and with an LSH index fitted by `tripindex tune --recall TARGET` (the
default index where tune chooses exact search). Probes
are held-out points of the same distribution, with their own pid and camera.

For every filter (pid < 1, < 10, < 50: 1 %, 10 %, 50 % pass; a compound expression; and the
--exclude-same-camera / --exclude-same-pid rules) it checks the exact path returns exactly
numpy's filtered top-k (ids; float64 distances, ties within 1e-4 relative accepted), and the LSH
path's recall@k (ann-benchmarks' rule: within the true k-th Euclidean distance + 1e-3; strict
beside it) against the unfiltered recall of the same index. Costs: the median of 3 runs of the
search and of the mask building (`query --timing`), per query, against the unfiltered search.
Needs numpy; tripindex does not.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_metrics_numpy import write_set  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", ".build", "release", "tripindex")


def make_set(kind, items, probes, rng):
    total = items + probes
    if kind == "clustered":
        centres = rng.normal(size=(200, 64)) * 4
        x = centres[rng.integers(0, 200, total)] + rng.normal(size=(total, 64))
        pids = rng.integers(0, 100, total)
        cams = rng.integers(1, 7, total)
    else:
        identities = 2000
        centres = rng.normal(size=(identities, 128)) * 1.5
        shift = rng.normal(size=(7, 128)) * 0.8
        owner = rng.integers(0, identities, total)
        cams = rng.integers(1, 7, total)
        x = centres[owner] + shift[cams] + rng.normal(size=(total, 128))
        pids = owner % 100  # pid < P keeps P % of the identities
    x = x.astype(np.float32)
    return (x[:items], pids[:items], cams[:items]), (x[items:], pids[items:], cams[items:])


def run(tool, args):
    done = subprocess.run([tool] + args, check=True, capture_output=True, text=True)
    return done.stdout, done.stderr


def query(tool, store, probe_path, k, extra):
    out, err = run(tool, ["query", probe_path, "--store", store, "-k", str(k), "--json", "--timing"]
                   + extra)
    rows = [json.loads(line) for line in out.splitlines()]
    timing = [line for line in err.splitlines() if line.startswith("timing:")][-1].split()
    prepare, search = float(timing[5]), float(timing[8])
    return rows, prepare, search


def truth(base, probe_x, allowed, k):
    b = base.astype(np.float64)
    results = []
    for i, p in enumerate(probe_x.astype(np.float64)):
        d = ((b - p) ** 2).sum(1)
        d[~allowed[i]] = np.inf
        order = np.argsort(d, kind="stable")[:k]
        results.append((order[np.isfinite(d[order])], np.sqrt(d)))
    return results


def compare(rows, expected, k):
    exact_equal = 0
    found = strict = wanted = 0
    for row, (ids, dist) in zip(rows, expected):
        got = [int(n["name"][4:]) for n in row["neighbors"]]
        if got == list(ids):
            exact_equal += 1
        elif len(got) == len(ids) and np.allclose(np.sort(dist[got]), dist[ids], rtol=1e-4, atol=1e-6):
            exact_equal += 1  # a tie at the k-th place, resolved the other way
        if len(ids) == 0:
            continue
        kth = dist[ids[-1]]
        found += sum(1 for g in got if dist[g] <= kth + 1e-3)
        strict += len(set(got) & set(ids.tolist()))
        wanted += len(ids)
    return exact_equal, found / max(wanted, 1), strict / max(wanted, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tripindex", default=DEFAULT_TOOL)
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--out")
    args = parser.parse_args()
    work = args.out or tempfile.mkdtemp()
    rng = np.random.default_rng(5)
    filters = [("pid < 1 (1%)", ["--where", "pid < 1"]),
               ("pid < 10 (10%)", ["--where", "pid < 10"]),
               ("pid < 50 (50%)", ["--where", "pid < 50"]),
               ("camera != 3 and pid not in [0, 1] or id < 100", ["--where", "camera != 3 and pid not in [0, 1] or id < 100"]),
               ("exclude same camera", ["--exclude-same-camera", "--probe-labels", None]),
               ("exclude same pid", ["--exclude-same-pid", "--probe-labels", None])]
    print(f"{'set':10s} {'filter':48s} {'pass':>6s} {'exact=np':>9s} {'exact µs/q':>10s} "
          f"{'x unf.':>7s} {'mask ms':>8s} {'lsh recall':>10s} {'strict':>7s} {'lsh µs/q':>9s} {'x unf.':>7s}")
    for kind in ["clustered", "reid"]:
        (bx, bp, bc), (px, pp, pc) = make_set(kind, args.items, args.probes, rng)
        folder = os.path.join(work, kind)
        write_set(os.path.join(folder, "in"), bx, bp, bc)
        probe_path = os.path.join(folder, "probes.npy")
        np.save(probe_path, px)
        labels_path = os.path.join(folder, "probe-labels.csv")
        write_set(os.path.join(folder, "probe-labels"), px, pp, pc)
        os.replace(os.path.join(folder, "probe-labels", "labels.csv"), labels_path)
        exact_store = os.path.join(folder, "exact.lmdb")
        lsh_store = os.path.join(folder, "lsh.lmdb")
        for store in (exact_store, lsh_store):
            if not os.path.exists(store):
                run(args.tripindex, ["build", os.path.join(folder, "in"), "--store", store, "--quiet"])
        if not os.path.exists(os.path.join(folder, "tuned")):
            run(args.tripindex, ["tune", "--store", lsh_store, "--recall", str(args.target), "--quiet"])
            probe_rows, _, _ = query(args.tripindex, lsh_store, probe_path, args.k, ["--lsh"])
            if probe_rows[0]["method"] != "lsh":
                # tune chose exact search for this set: measure the default index instead.
                run(args.tripindex, ["index", "--store", lsh_store])
                print(f"{kind}: tune chose exact search; the LSH columns use the default index")
            open(os.path.join(folder, "tuned"), "w").close()

        def timed(store, extra, lsh):
            samples = [query(args.tripindex, store, probe_path, args.k,
                             extra + (["--lsh"] if lsh else ["--exact"])) for _ in range(3)]
            rows = samples[0][0]
            return rows, np.median([s[1] for s in samples]), np.median([s[2] for s in samples])

        _, _, base_exact = timed(exact_store, [], False)
        unfiltered_rows, _, base_lsh = timed(lsh_store, [], True)
        everything = np.ones((args.probes, args.items), bool)
        _, unfiltered_recall, unfiltered_strict = compare(
            unfiltered_rows, truth(bx, px, everything, args.k), args.k)
        print(f"{kind:10s} {'(none)':48s} {'100%':>6s} {'':>9s} {1e6 * base_exact / args.probes:10.1f} "
              f"{'1.00':>7s} {'':>8s} {unfiltered_recall:10.3f} {unfiltered_strict:7.3f} "
              f"{1e6 * base_lsh / args.probes:9.1f} {'1.00':>7s}")
        for name, extra in filters:
            extra = [labels_path if e is None else e for e in extra]
            ids = np.arange(args.items)
            if "pid < " in name:
                bound = int(name.split("<")[1].split()[0])
                allowed_row = bp < bound
                allowed = np.broadcast_to(allowed_row, (args.probes, args.items))
            elif name.startswith("camera"):
                allowed_row = ((bc != 3) & ~np.isin(bp, [0, 1])) | (ids < 100)
                allowed = np.broadcast_to(allowed_row, (args.probes, args.items))
            elif name == "exclude same camera":
                allowed = bc[None, :] != pc[:, None]
            else:
                allowed = bp[None, :] != pp[:, None]
            expected = truth(bx, px, allowed, args.k)
            exact_rows, mask_exact, search_exact = timed(exact_store, extra, False)
            lsh_rows, _, search_lsh = timed(lsh_store, extra, True)
            equal, _, _ = compare(exact_rows, expected, args.k)
            _, recall, strict = compare(lsh_rows, expected, args.k)
            share = allowed.mean()
            print(f"{kind:10s} {name:48s} {100 * share:5.1f}% {equal:4d}/{args.probes:<4d} "
                  f"{1e6 * search_exact / args.probes:10.1f} {search_exact / base_exact:7.2f} "
                  f"{1e3 * mask_exact:8.1f} {recall:10.3f} {strict:7.3f} "
                  f"{1e6 * search_lsh / args.probes:9.1f} {search_lsh / base_lsh:7.2f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
