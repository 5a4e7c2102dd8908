#!/usr/bin/env python3
"""`tripindex serve` under load, with wrk: throughput, p50/p99 latency and errors of `POST /query`
(one probe per request) at 1, 8 and 64 connections, with and without a concurrent writer doing
100 upserts/s; the server's CPU per request against `query` of the same probes as one process;
single-probe latency over HTTP beside `query` as a process.

    python3 Benchmarks/scripts/serve_load.py SET_DIR [--seconds 30] [--connections 1,8,64]

SET_DIR holds base.fvecs and queries.fvecs (e.g. `make_clustered.py OUT` for 100k x 128). The
store is built once in SET_DIR/serve.lmdb with an LSH index and `tune` (what a user gets).
Needs wrk (Debian package) and the tool from `make release`.

Server CPU per request = (utime + stime of the server process over a wrk run) / requests;
the search itself = CPU of `tripindex query` over 10,000 probes in one process, per probe. The
difference is what HTTP (parsing, routing, encoding, the event loop) adds. After the writer
runs, `check` must pass and every acknowledged upsert must be in the store (each is sent again
and must come back "unchanged").
"""
import argparse
import http.client
import json
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import threading
import time

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "tripindex")
TICKS = os.sysconf("SC_CLK_TCK")


def read_fvecs(path, limit):
    rows = []
    with open(path, "rb") as handle:
        while len(rows) < limit:
            header = handle.read(4)
            if not header:
                break
            dimension = struct.unpack("<i", header)[0]
            rows.append(list(struct.unpack("<%df" % dimension, handle.read(4 * dimension))))
    return rows


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_server(store):
    server = subprocess.Popen([TOOL, "serve", "--store", store, "--port", "0", "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    port = int(re.search(r":(\d+) ", line).group(1))
    return server, port


def wrk(port, connections, seconds, script):
    threads = min(2, connections)
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
         f"http://127.0.0.1:{port}/query"], capture_output=True, text=True, check=True).stdout
    def latency(label):
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", result, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
    requests = int(re.search(r"(\d+) requests in", result).group(1))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        match = re.search(pattern, result)
        if match:
            errors += sum(int(group) for group in match.groups())
    return {"requests": requests, "rps": requests / seconds, "p50_ms": latency("50"),
            "p99_ms": latency("99"), "errors": errors}


class Writer(threading.Thread):
    """PUT /items/load-N at a steady rate; remembers what was acknowledged."""

    def __init__(self, port, vectors, rate):
        super().__init__(daemon=True)
        self.port, self.vectors, self.rate = port, vectors, rate
        self.stop = threading.Event()
        self.acknowledged = []
        self.failures = 0

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        started = time.monotonic()
        count = 0
        while not self.stop.is_set():
            name = f"load-{len(self.acknowledged) + self.failures}"
            vector = self.vectors[count % len(self.vectors)]
            body = json.dumps({"vector": [v + 0.5 for v in vector], "pid": count % 97})
            connection.request("PUT", "/items/" + name, body)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                self.acknowledged.append((name, body))
            else:
                self.failures += 1
            count += 1
            delay = started + count / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", default="1,8,64")
    arguments = parser.parse_args()
    store = os.path.join(arguments.set, "serve.lmdb")
    if not os.path.exists(store):
        subprocess.run([TOOL, "build", os.path.join(arguments.set, "base.fvecs"), "--store", store,
                        "--index", "lsh", "--quiet"], check=True)
        subprocess.run([TOOL, "tune", "--store", store, "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
    probes = read_fvecs(os.path.join(arguments.set, "queries.fvecs"), 10_000)
    bodies = [json.dumps({"vector": probe, "k": 10}) for probe in probes[:1000]]
    script = os.path.join(arguments.set, "serve_load.lua")
    with open(script, "w") as lua:
        lua.write("local bodies = {\n")
        for body in bodies:
            lua.write("[[" + body + "]],\n")
        lua.write("}\nlocal n = 0\nrequest = function()\n  n = n % #bodies + 1\n"
                  "  return wrk.format('POST', nil, {['Content-Type'] = 'application/json'}, bodies[n])\nend\n")

    # The search alone: query over 10,000 probes as one process, CPU per probe.
    probe_file = os.path.join(arguments.set, "probes10k.fvecs")
    with open(probe_file, "wb") as out:
        for probe in probes:
            out.write(struct.pack("<i", len(probe)) + struct.pack("<%df" % len(probe), *probe))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([TOOL, "query", probe_file, "--store", store, "-k", "10", "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    search_cpu_us = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / len(probes) * 1e6
    print(f"query, 10,000 probes in one process: {wall:.2f} s wall, {search_cpu_us:.1f} us CPU per probe",
          flush=True)

    # One probe: a process per query against one HTTP request each.
    single = os.path.join(arguments.set, "probe1.fvecs")
    with open(single, "wb") as out:
        out.write(struct.pack("<i", len(probes[0])) + struct.pack("<%df" % len(probes[0]), *probes[0]))
    times = []
    for _ in range(20):
        started = time.monotonic()
        subprocess.run([TOOL, "query", single, "--store", store, "-k", "10"], check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - started)
    process_ms = sorted(times)[len(times) // 2] * 1000

    server, port = start_server(store)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        times = []
        for index in range(200):
            started = time.monotonic()
            connection.request("POST", "/query", bodies[index % len(bodies)])
            connection.getresponse().read()
            times.append(time.monotonic() - started)
        http_ms = sorted(times)[len(times) // 2] * 1000
        print(f"one probe: query as a process {process_ms:.1f} ms (median of 20), over HTTP "
              f"{http_ms:.3f} ms (median of 200, one keep-alive connection)", flush=True)
        rows = []
        for writer_on in (False, True):
            for connections in [int(c) for c in arguments.connections.split(",")]:
                writer = Writer(port, probes[:500], 100) if writer_on else None
                if writer:
                    writer.start()
                cpu_before = cpu_seconds(server.pid)
                figures = wrk(port, connections, arguments.seconds, script)
                cpu_after = cpu_seconds(server.pid)
                if writer:
                    writer.stop.set()
                    writer.join()
                writes = len(writer.acknowledged) if writer else 0
                # The writer's requests cost server CPU too; they are few (100/s) and counted in.
                cpu_us = (cpu_after - cpu_before) / max(1, figures["requests"] + writes) * 1e6
                figures.update(connections=connections, writer=writer_on, server_cpu_us=cpu_us,
                               http_overhead_us=cpu_us - search_cpu_us, writes=writes,
                               write_failures=writer.failures if writer else 0)
                rows.append(figures)
                print(f"{'with' if writer_on else 'no'} writer, {connections:>2} connections: "
                      f"{figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.2f} ms, p99 "
                      f"{figures['p99_ms']:.2f} ms, {figures['errors']} errors, server CPU "
                      f"{cpu_us:.1f} us/request ({cpu_us - search_cpu_us:+.1f} us beyond the "
                      f"search), {writes} upserts acknowledged, {figures['write_failures']} failed",
                      flush=True)
                if writer:
                    # Every acknowledged upsert is there: sending it again changes nothing.
                    missing = 0
                    check = http.client.HTTPConnection("127.0.0.1", port)
                    for name, body in writer.acknowledged:
                        check.request("PUT", "/items/" + name, body)
                        answer = json.loads(check.getresponse().read())
                        missing += answer.get("status") != "unchanged"
                    print(f"  every acknowledged upsert stored: {missing == 0} ({missing} missing)",
                          flush=True)
                    figures["acknowledged_missing"] = missing
    finally:
        server.terminate()
        status = server.wait()
    check = subprocess.run([TOOL, "check", "--store", store], capture_output=True, text=True)
    print(f"server exit status {status} after SIGTERM; check: "
          f"{'sound' if check.returncode == 0 else check.stdout + check.stderr}")
    print(json.dumps({"search_cpu_us_per_probe": search_cpu_us, "query_process_ms": process_ms,
                      "http_single_ms": http_ms, "rows": rows}))


if __name__ == "__main__":
    main()
