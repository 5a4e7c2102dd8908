#!/usr/bin/env python3
"""Times the stages of a long tripindex command: runs it under a pseudo-terminal (so that it
shows its status lines, as it does for a person), writes each line it shows with the seconds
since the start and the process's anonymous memory (RssAnon, MiB) at that moment, and prints
the whole run's time and peak RssAnon (sampled every 50 ms).

    python3 Benchmarks/scripts/stage_times.py LOG tripindex tune --store S.lmdb --recall 0.9

A status line is written when the next one starts (the terminal renderer rewrites one line in
place), so a line's time is when its stage ended. Used for the 10M tune stages in
`Benchmarks/results/lsh-10m.txt`.
"""
import os
import pty
import re
import sys
import threading
import time


def rss_anon_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    log = open(sys.argv[1], "w")
    start = time.time()
    pid, terminal = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    peak, current, done = [0], [0], [False]

    def sample():
        while not done[0]:
            current[0] = rss_anon_mib(pid)
            peak[0] = max(peak[0], current[0])
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    pending = b""
    while True:
        try:
            data = os.read(terminal, 4096)
        except OSError:
            break
        if not data:
            break
        parts = re.split(rb"[\r\n]", pending + data)
        pending = parts[-1]
        for part in parts[:-1]:
            text = part.decode(errors="replace").strip()
            if text:
                log.write(f"{time.time() - start:8.1f} {current[0]:6d} {text}\n")
                log.flush()
    _, status = os.waitpid(pid, 0)
    done[0] = True
    summary = f"{time.time() - start:.1f} s, peak RssAnon {peak[0]} MiB, exit status {status}"
    log.write(summary + "\n")
    print(summary)


if __name__ == "__main__":
    main()
