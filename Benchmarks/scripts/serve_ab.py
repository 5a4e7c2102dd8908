#!/usr/bin/env python3
"""Two builds of `tripindex serve` side by side: the server's CPU per request and requests/s
under wrk, for `POST /query` (one probe per request) and `GET /health`, in interleaved rounds
(old, new, old, new, ...) on one store; medians are printed.

    python3 Benchmarks/scripts/serve_ab.py OLD_TOOL NEW_TOOL SET_DIR [--rounds 3] [--seconds 8]
                                           [--connections 8]

SET_DIR is one `serve_load.py` has run on: it holds serve.lmdb and serve_load.lua (the
request bodies). Both builds must read the store's format. Server CPU per request = (utime +
stime of the server over the wrk run) / requests; wrk runs on the same machine, so compare the
two builds with each other, not with other machines.
"""
import argparse
import os
import re
import statistics
import subprocess

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wrk(port, path, script, connections, seconds):
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s"]
    if script:
        command += ["-s", script]
    return subprocess.run(command + [f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True).stdout


def measure(tool, store, path, script, connections, seconds):
    server = subprocess.Popen([tool, "serve", "--store", store, "--port", "0", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r":(\d+) ", server.stdout.readline()).group(1))
    wrk(port, path, script, 1, 1)  # warm-up
    before = cpu_seconds(server.pid)
    out = wrk(port, path, script, connections, seconds)
    after = cpu_seconds(server.pid)
    server.terminate()
    server.wait()
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return (after - before) / requests * 1e6, rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("set")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    arguments = parser.parse_args()
    store = os.path.join(arguments.set, "serve.lmdb")
    script = os.path.join(arguments.set, "serve_load.lua")
    tools = {"old": arguments.old, "new": arguments.new}
    for path, body in [("/query", script), ("/health", None)]:
        results = {name: [] for name in tools}
        for _ in range(arguments.rounds):
            for name, tool in tools.items():
                results[name].append(
                    measure(tool, store, path, body, arguments.connections, arguments.seconds))
        for name in tools:
            cpu = statistics.median(r[0] for r in results[name])
            rate = statistics.median(r[1] for r in results[name])
            print(f"{path:8} {name}: server CPU {cpu:6.1f} us/request, {rate:8,.0f} req/s "
                  f"(medians of {arguments.rounds}; {arguments.connections} connections)")


if __name__ == "__main__":
    main()
