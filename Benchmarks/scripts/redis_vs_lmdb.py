"""The same data in an LMDB store and in a store on a local Redis Cluster (3 masters + 3
replicas on this machine, started and stopped here), through the tripindex command line:

- build throughput, without and with the default LSH index (each Redis write acknowledged by
  one replica: the default when every master has one);
- memory: the masters' `used_memory` summed (less an empty cluster's) against the bytes LMDB's
  `info --json` reports (its databases, and its data file), without and with the default index
  (its postings on the shards against LMDB's tables);
- 10k LSH probes, whole process, medians of interleaved rounds, and whether both engines
  return the same neighbours (the Redis store gets the LMDB index's fitted parameters by
  `copy`, so they should); with --tuned, again with the index `tune` chooses on the LMDB store;
- exact search of the same queries: whether both return the same ids and distances;
- single-probe latency (`query one-probe -k 20`), exact and LSH: whole process and `--timing`'s
  search time, medians; then batches of 10 and 100 LSH probes, whole process (a Redis store
  answers few probes through its index's postings, many over a snapshot of the store).

    python3 Benchmarks/scripts/redis_vs_lmdb.py DATA_DIR [--rounds 3] [--latency-rounds 5]
        [--tripindex PATH] [--port 7700] [--json OUT] [--tuned]

DATA_DIR holds base.fvecs and queries.fvecs (make_clustered.py, make_patches.py). The tool is
built in release mode unless --tripindex names one.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(command, **kwargs):
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
    return done, seconds


def used_memory(ports):
    total = 0
    for port in ports:
        text = subprocess.run(
            ["redis-cli", "-p", str(port), "info", "memory"], capture_output=True, text=True
        ).stdout
        for line in text.splitlines():
            if line.startswith("used_memory:"):
                total += int(line.split(":")[1])
    return total


def masters(seeds):
    first = seeds.split(",")[0].split(":")[1]
    text = subprocess.run(
        ["redis-cli", "-p", first, "cluster", "nodes"], capture_output=True, text=True
    ).stdout
    return [
        int(fields[1].split("@")[0].split(":")[1])
        for fields in (line.split() for line in text.splitlines())
        if "master" in fields[2]
    ]


def fvecs_rows(path):
    with open(path, "rb") as handle:
        dimension = struct.unpack("<i", handle.read(4))[0]
    return os.path.getsize(path) // (4 * (dimension + 1)), dimension


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-rounds", type=int, default=5)
    parser.add_argument("--tripindex")
    parser.add_argument("--port", type=int, default=7700)
    parser.add_argument("--json")
    parser.add_argument("--tuned", action="store_true",
                        help="also tune the LMDB store and compare the probes with tune's index")
    args = parser.parse_args()
    tool = args.tripindex
    if tool is None:
        subprocess.run(["swift", "build", "-c", "release", "--product", "tripindex"], cwd=ROOT,
                       check=True, capture_output=True)
        tool = os.path.join(ROOT, ".build/release/tripindex")
    base = os.path.join(args.data, "base.fvecs")
    queries = os.path.join(args.data, "queries.fvecs")
    rows, dimension = fvecs_rows(base)
    work = tempfile.mkdtemp(prefix="redis-vs-lmdb-")
    cluster = os.path.join(work, "cluster")
    script = os.path.join(HERE, "redis-cluster.sh")
    seeds = subprocess.run([script, "start", cluster, str(args.port)], capture_output=True,
                           text=True, check=True).stdout.strip()
    report = {"rows": rows, "dimension": dimension, "data": args.data}
    try:
        ports = masters(seeds)
        empty = used_memory(ports)
        redis = lambda name: f"redis://{seeds}/{name}"
        lmdb = lambda name: os.path.join(work, name)
        # One probe, for the latency rows.
        with open(queries, "rb") as handle:
            record = handle.read(4 * (dimension + 1))
        one = os.path.join(work, "one.fvecs")
        with open(one, "wb") as handle:
            handle.write(record)

        builds = {}
        for engine, store in (("lmdb", lmdb("plain.lmdb")), ("redis", redis("plain"))):
            _, seconds = run([tool, "build", base, "--store", store, "--quiet", "--batch", "2000"])
            builds[engine] = {"seconds": seconds, "vectors_per_second": rows / seconds}
            print(f"build without index, {engine}: {seconds:.1f} s, {rows / seconds:,.0f} vectors/s",
                  flush=True)
        redis_bytes = used_memory(ports) - empty
        info = json.loads(run([tool, "info", "--store", lmdb("plain.lmdb"), "--json"])[0].stdout)
        lmdb_databases = sum(database["bytes"] for database in info["databases"])
        redis_info = json.loads(run([tool, "info", "--store", redis("plain"), "--json"])[0].stdout)
        report["memory"] = {
            "redis_used_memory_masters": redis_bytes,
            "redis_keys_memory_usage": redis_info["data_bytes"],
            "lmdb_databases": lmdb_databases, "lmdb_data_file": info["data_bytes"],
            "ratio_to_lmdb_databases": redis_bytes / lmdb_databases,
            "ratio_to_lmdb_data_file": redis_bytes / info["data_bytes"],
        }
        print("memory: Redis masters' used_memory {:.1f} MiB, LMDB databases {:.1f} MiB "
              "(data file {:.1f} MiB): {:.2f}x".format(
                  redis_bytes / 2**20, lmdb_databases / 2**20, info["data_bytes"] / 2**20,
                  redis_bytes / lmdb_databases), flush=True)
        indexed = {}
        before_indexed = used_memory(ports)
        for engine, store in (("lmdb", lmdb("indexed.lmdb")), ("redis", redis("indexed"))):
            _, seconds = run([tool, "build", base, "--store", store, "--quiet", "--batch", "2000",
                              "--index", "lsh"])
            indexed[engine] = {"seconds": seconds, "vectors_per_second": rows / seconds}
            print(f"build with the default index, {engine}: {seconds:.1f} s", flush=True)
        report["build"] = {"without_index": builds, "with_index": indexed}
        # With the index: its postings on the shards against LMDB's tables.
        redis_indexed = used_memory(ports) - before_indexed
        info = json.loads(run([tool, "info", "--store", lmdb("indexed.lmdb"), "--json"])[0].stdout)
        lmdb_indexed = sum(database["bytes"] for database in info["databases"])
        report["memory_with_index"] = {
            "redis_used_memory_masters": redis_indexed, "lmdb_databases": lmdb_indexed,
            "ratio_to_lmdb_databases": redis_indexed / lmdb_indexed,
        }
        print("memory with the default index: Redis masters' used_memory {:.1f} MiB, LMDB "
              "databases {:.1f} MiB: {:.2f}x".format(
                  redis_indexed / 2**20, lmdb_indexed / 2**20, redis_indexed / lmdb_indexed),
              flush=True)
        # The Redis store searched below holds the LMDB index's own parameters.
        run([tool, "copy", "--from", lmdb("indexed.lmdb"), "--to", redis("same"), "--quiet",
             "--batch", "2000"])
        stores = {"lmdb": lmdb("indexed.lmdb"), "redis": redis("same")}

        def compare_probes(stores, label):
            """10k LSH probes through both stores, interleaved rounds; ratio and agreement."""
            times = {engine: [] for engine in stores}
            answers = {}
            for _ in range(args.rounds):
                for engine, store in stores.items():
                    done, seconds = run([tool, "query", queries, "--store", store, "-k", "10",
                                         "--lsh", "--json"])
                    times[engine].append(seconds)
                    answers[engine] = done.stdout
            count = len(answers["lmdb"].splitlines())
            same = sum(a == b for a, b in zip(answers["lmdb"].splitlines(),
                                              answers["redis"].splitlines()))
            probes = {engine: count / statistics.median(seconds)
                      for engine, seconds in times.items()}
            print(f"{count} LSH probes, {label}, whole process: LMDB {probes['lmdb']:,.0f}/s, "
                  f"Redis {probes['redis']:,.0f}/s ({probes['redis'] / probes['lmdb']:.2f}x); "
                  f"identical answers for {same} of {count}", flush=True)
            return {"queries": count, "seconds": times, "queries_per_second": probes,
                    "ratio_redis_to_lmdb": probes["redis"] / probes["lmdb"],
                    "identical_answers": same}

        report["lsh_probes"] = compare_probes(stores, "the default index")
        # Exact search: the same ids and distances from both engines, probe by probe.
        exact = {engine: run([tool, "query", queries, "--store", store, "-k", "10", "--exact",
                              "--json"])[0].stdout.splitlines()
                 for engine, store in stores.items()}
        same_exact = sum(a == b for a, b in zip(exact["lmdb"], exact["redis"]))
        report["exact_identical_answers"] = same_exact
        print(f"{len(exact['lmdb'])} exact probes: identical answers (ids and distances) for "
              f"{same_exact} of {len(exact['lmdb'])}", flush=True)
        if args.tuned:
            # What a user who runs tune gets: fewer, faster probes, so the Redis reader's fixed
            # cost (reading the store, building the tables) weighs more.
            done, seconds = run([tool, "tune", "--store", lmdb("indexed.lmdb"), "--quiet",
                                 "--json"])
            verdict = json.loads(done.stdout)["verdict"]
            print(f"tune on LMDB ({seconds:.0f} s): {verdict}", flush=True)
            if verdict.startswith("lsh"):
                run([tool, "copy", "--from", lmdb("indexed.lmdb"), "--to", redis("tuned"),
                     "--quiet", "--batch", "2000"])
                report["lsh_probes_tuned"] = compare_probes(
                    {"lmdb": lmdb("indexed.lmdb"), "redis": redis("tuned")}, "tune's index")
        latency = {}
        for method in ("--exact", "--lsh"):
            for engine, store in stores.items():
                walls, searches = [], []
                for _ in range(args.latency_rounds):
                    done, seconds = run([tool, "query", one, "--store", store, "-k", "20",
                                         method, "--timing"])
                    walls.append(seconds)
                    line = [l for l in done.stderr.splitlines() if l.startswith("timing:")][0]
                    searches.append(float(line.split("search ")[1].split(" s")[0]))
                key = f"{engine} {method[2:]}"
                latency[key] = {"whole_process_seconds": statistics.median(walls),
                                "search_seconds": statistics.median(searches)}
                print(f"one probe, {key}: whole process {statistics.median(walls) * 1000:.0f} ms, "
                      f"search {statistics.median(searches) * 1000:.2f} ms", flush=True)
        report["single_probe"] = latency
        # Small batches: a Redis store answers them through the index's postings (the probes'
        # buckets, then the vectors they score) while that costs less than reading the store.
        batches = {}
        for size in (10, 100):
            batch = os.path.join(work, f"batch{size}.fvecs")
            with open(queries, "rb") as source, open(batch, "wb") as target:
                target.write(source.read(4 * (dimension + 1) * size))
            for engine, store in stores.items():
                walls = []
                for _ in range(args.latency_rounds):
                    walls.append(run([tool, "query", batch, "--store", store, "-k", "10",
                                      "--lsh"])[1])
                key = f"{engine} {size} probes"
                batches[key] = statistics.median(walls)
                print(f"{size} LSH probes, {engine}: whole process "
                      f"{statistics.median(walls) * 1000:.0f} ms", flush=True)
        report["small_batches"] = batches
    finally:
        subprocess.run([script, "stop", cluster], capture_output=True)
        subprocess.run(["rm", "-rf", work])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
