#!/usr/bin/env python3
"""Damages copies of a store as disks do and runs every reading and writing command on each.

For seed 0..N-1: copy STORE, then overwrite one random 4 KB page with random bytes (three seeds in
four) or cut data.mdb at a random length (one in four); run `info`, `query PROBE -k 5`,
`query PROBE -k 5 --exact`, `check`, `index`, `check` on the copy. Counts runs that ended on a
signal (there must be none) and copies that the first `check` (or opening the store) reported.
A page LMDB keeps on its free list holds no data, so overwriting it is rightly not reported:
`mdb_stat -fff STORE` lists those pages.

    python3 Benchmarks/scripts/damage_stores.py .build/release/tripindex STORE PROBE.fvecs --copies 200
"""
import argparse
import os
import random
import shutil
import subprocess
import tempfile


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tool")
    parser.add_argument("store")
    parser.add_argument("probe")
    parser.add_argument("--copies", type=int, default=100)
    args = parser.parse_args()
    size = os.path.getsize(os.path.join(args.store, "data.mdb"))
    pages = size // 4096
    signals = runs = detected = 0
    unreported = []
    scratch = tempfile.mkdtemp(prefix="tripindex-damage-")
    commands = [["info"], ["query", args.probe, "-k", "5"], ["query", args.probe, "-k", "5", "--exact"],
                ["check", "--quiet"], ["index"], ["check", "--quiet"]]
    for seed in range(args.copies):
        rnd = random.Random(seed)
        copy = os.path.join(scratch, f"copy-{seed}")
        shutil.copytree(args.store, copy)
        with open(os.path.join(copy, "data.mdb"), "r+b") as data:
            if seed % 4 != 3:
                page = rnd.randrange(0, pages)
                data.seek(page * 4096)
                data.write(rnd.randbytes(4096))
                what = f"page {page}"
            else:
                cut = rnd.randrange(0, size)
                data.truncate(cut)
                what = f"cut at {cut} bytes"
        first = {}
        for command in commands:
            done = subprocess.run([args.tool] + command + ["--store", copy], capture_output=True, timeout=300)
            runs += 1
            first.setdefault(command[0], done.returncode)
            if done.returncode < 0:
                signals += 1
                print(f"copy {seed} ({what}): {' '.join(command)} ended on signal {-done.returncode}")
        if first["check"] != 0 or first["info"] != 0:
            detected += 1
        else:
            unreported.append(what)
        shutil.rmtree(copy)
    shutil.rmtree(scratch)
    print(f"{args.copies} damaged copies, {runs} runs, {signals} signals, {detected} reported by check "
          f"(or refused on open); not reported: {', '.join(unreported) or 'none'}")


if __name__ == "__main__":
    main()
