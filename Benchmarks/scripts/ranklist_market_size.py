#!/usr/bin/env python3
"""A Market-1501-sized ranked-list report: how long `eval --report` takes to write it and how
long headless Chromium takes to load the page.

Makes (once, in OUT/data) 3,368 query and 15,913 gallery items shaped like Market-1501's test
set — 750 identities over 6 cameras, Market-1501 names (`0001_c1s1_000151_00`), junk (pid -1)
and distractors (pid 0) in the gallery, 2048-d features (ResNet-50's width) that cluster by
identity with a camera shift — and one 64x128 JPEG per item named like it, as Market-1501 ships
`bounding_box_test/` beside its features. Then, each round:

  1. `tripindex eval --query Q --gallery G --images IMG --report R` (timed, whole process);
  2. Chromium (`--headless --dump-dom`) on a copy of R/ranklists.html that records, in the
     DOM, the page's own clock when the document is parsed and when `load` fires (the page
     itself is not changed); then the wall time of a whole browser process that opens the page,
     renders a screenshot and exits.

    python3 Benchmarks/scripts/ranklist_market_size.py OUT [--rounds 3]

Goals (issue 27): the report written in under 10 s, the page loaded in under 5 s. Needs numpy,
Pillow and Debian's chromium; the tool from `make release`.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "tripindex")
QUERIES, GALLERY, IDENTITIES, CAMERAS, DIMENSION = 3368, 15913, 750, 6, 2048
JUNK, DISTRACTORS = 2798, 2793


def make_data(folder):
    """Writes query/ and gallery/ (features.npy + labels.csv) and images/, once."""
    if os.path.exists(os.path.join(folder, "done")):
        return
    shutil.rmtree(folder, ignore_errors=True)
    random = np.random.default_rng(27)
    centres = random.normal(size=(IDENTITIES, DIMENSION)).astype(np.float32)
    camera_shift = random.normal(scale=0.6, size=(CAMERAS, DIMENSION)).astype(np.float32)
    colours = random.integers(40, 220, size=(IDENTITIES + 1, 3))

    def items(count, role, frame_start):
        if role == "query":
            pids = random.integers(1, IDENTITIES + 1, size=count)
        else:
            # Every identity in the gallery about equally often (as Market-1501's 750 test
            # identities are), then junk (-1) and distractors (0).
            identities = np.arange(count - JUNK - DISTRACTORS) % IDENTITIES + 1
            pids = np.concatenate([identities, np.full(JUNK, -1), np.zeros(DISTRACTORS, int)])
            random.shuffle(pids)
        cameras = random.integers(1, CAMERAS + 1, size=count)
        base = np.where(pids[:, None] > 0, centres[np.maximum(pids, 1) - 1],
                        random.normal(size=(count, DIMENSION)))
        features = base + camera_shift[cameras - 1] + random.normal(scale=1.1, size=base.shape)
        names = [f"{pid:04d}_c{camera}s1_{frame_start + row:06d}_00" if pid >= 0
                 else f"-1_c{camera}s1_{frame_start + row:06d}_00"
                 for row, (pid, camera) in enumerate(zip(pids, cameras))]
        return features.astype(np.float32), names, pids, cameras

    from PIL import Image, ImageDraw
    os.makedirs(os.path.join(folder, "images"))
    for role, count, start in (("query", QUERIES, 0), ("gallery", GALLERY, 100000)):
        features, names, pids, cameras = items(count, role, start)
        os.makedirs(os.path.join(folder, role))
        np.save(os.path.join(folder, role, "features.npy"), features)
        with open(os.path.join(folder, role, "labels.csv"), "w") as labels:
            labels.write("name,pid,camera\n")
            for name, pid, camera in zip(names, pids, cameras):
                labels.write(f"{name},{pid},{camera}\n")
        for name, pid, camera in zip(names, pids, cameras):
            picture = Image.new("RGB", (64, 128), tuple(int(c) for c in colours[max(pid, 0)]))
            draw = ImageDraw.Draw(picture)
            draw.rectangle([8, 8 + 12 * camera, 56, 20 + 12 * camera], fill=(255, 255, 255))
            draw.text((4, 110), str(pid), fill=(0, 0, 0))
            picture.save(os.path.join(folder, "images", name + ".jpg"), quality=80)
    open(os.path.join(folder, "done"), "w").close()


def timed_copy(page):
    """A copy of the page that writes its parse and load times into <body>."""
    text = open(page, encoding="utf-8").read()
    probe = ('<script>document.body.dataset.parsed=performance.now();'
             'addEventListener("load",()=>{document.body.dataset.loaded=performance.now();});'
             '</script></body>')
    copy = page.replace("ranklists.html", "ranklists-timed.html")
    open(copy, "w", encoding="utf-8").write(text.replace("</body>", probe))
    return copy


def chromium(page, action):
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
         action, "file://" + os.path.abspath(page)],
        capture_output=True, text=True, timeout=300)


def chromium_load(page):
    """The page's own parse and load times and its row count (from the DOM after load), and
    the wall time of a browser process that opens the page, renders it into a screenshot and
    exits (a DOM dump would add the time to serialise 15 MB of DOM)."""
    result = chromium(page, "--dump-dom")
    body = re.search(r'<body[^>]*data-parsed="([\d.]+)"[^>]*data-loaded="([\d.]+)"', result.stdout)
    if not body:
        sys.exit("the page did not finish loading in Chromium:\n" + result.stderr[-2000:])
    rows = result.stdout.count('class="row"')
    started = time.monotonic()
    chromium(page, "--screenshot=" + page + ".png")
    wall = time.monotonic() - started
    return float(body.group(1)) / 1000, float(body.group(2)) / 1000, wall, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    data = os.path.join(arguments.out, "data")
    make_data(data)
    writes, parses, loads, walls = [], [], [], []
    for round_ in range(arguments.rounds):
        report = os.path.join(arguments.out, f"report{round_}")
        shutil.rmtree(report, ignore_errors=True)
        started = time.monotonic()
        subprocess.run(
            [TOOL, "eval", "--query", os.path.join(data, "query"), "--gallery",
             os.path.join(data, "gallery"), "--images", os.path.join(data, "images"),
             "--report", report, "--quiet"], check=True, stdout=subprocess.DEVNULL)
        writes.append(time.monotonic() - started)
        parsed, loaded, wall, rows = chromium_load(timed_copy(os.path.join(report, "ranklists.html")))
        parses.append(parsed)
        loads.append(loaded)
        walls.append(wall)
        size = os.path.getsize(os.path.join(report, "ranklists.html"))
        print(f"round {round_ + 1}: eval --report {writes[-1]:.2f} s; page {size / 1e6:.1f} MB, "
              f"{rows} rows: parsed {parsed:.2f} s, load event {loaded:.2f} s, "
              f"browser process to a screenshot {wall:.2f} s", flush=True)
    median = lambda values: sorted(values)[len(values) // 2]
    print(f"median of {arguments.rounds}: report written in {median(writes):.2f} s (goal < 10 s); "
          f"page load event at {median(loads):.2f} s (goal < 5 s), the whole headless Chromium "
          f"process (start, load, render a screenshot, exit) {median(walls):.2f} s; "
          f"{QUERIES:,} queries x {GALLERY:,} gallery items")
    if median(writes) >= 10 or median(loads) >= 5:
        sys.exit(1)


if __name__ == "__main__":
    main()
