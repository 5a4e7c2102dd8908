#!/usr/bin/env python3
"""Two builds of tripindex searching one store side by side: the search time `query --timing`
reports and the whole process's wall time (start-up, reading the probes, the search, resolving
the neighbours' names, writing the JSON lines, exit), in interleaved rounds (old, new, old, new,
...), medians printed, and whether the two builds returned the same neighbours and wrote the
same bytes.

    python3 Benchmarks/scripts/search_ab.py OLD_TOOL NEW_TOOL --store S --queries Q.fvecs
                                            [--rounds 7] [-k 10] [--exact]

Both builds must read the store's format; by default the index is forced (`--lsh`). Use it for
changes that keep answers and formats: a speed claim should hold on several sets (e.g. the
patches, clustered and patchescn sets of make_patches.py / make_clustered.py).
"""
import argparse
import json
import re
import statistics
import subprocess
import time


def search(tool, arguments):
    started = time.perf_counter()
    run = subprocess.run([tool, "query"] + arguments + ["--timing", "--json"],
                         capture_output=True, text=True, check=True)
    process = time.perf_counter() - started
    seconds = float(re.search(r"search ([0-9.]+) s", run.stderr).group(1))
    return seconds, process, run.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--store", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--exact", action="store_true")
    options = parser.parse_args()
    arguments = [options.queries, "--store", options.store, "-k", str(options.k),
                 "--exact" if options.exact else "--lsh"]
    times = {"old": [], "new": []}
    processes = {"old": [], "new": []}
    outputs = {}
    for _ in range(options.rounds):
        for name in ("old", "new"):
            seconds, process, output = search(getattr(options, name), arguments)
            times[name].append(seconds)
            processes[name].append(process)
            outputs[name] = output
    answers = {name: [[n["id"] for n in json.loads(line)["neighbors"]]
                      for line in output.splitlines()] for name, output in outputs.items()}
    for label, measured in (("search", times), ("process", processes)):
        old, new = statistics.median(measured["old"]), statistics.median(measured["new"])
        print(f"{label}: old {old:.4f} s, new {new:.4f} s: new is {old / new:.2f}x the old speed "
              f"(medians of {options.rounds})")
    print(f"same neighbours: {answers['old'] == answers['new']}; "
          f"same output bytes: {outputs['old'] == outputs['new']}")
    print("search rounds (old, new):", list(zip(times["old"], times["new"])))
    print("process rounds (old, new):",
          [(round(a, 4), round(b, 4)) for a, b in zip(processes["old"], processes["new"])])


if __name__ == "__main__":
    main()
