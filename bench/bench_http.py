"""HTTP latency and throughput of ``moderate serve`` (one uvicorn worker), with baselines in the same run.

Usage::

    python bench/bench_http.py [--listings-dir DIR] [-n 2000] [--size 1024] [--batches 10]

Starts ``moderate serve --host 127.0.0.1 --port <free port> --workers 1 --log-level warning`` as a
subprocess, waits for ``/readyz``, warms up, then measures:

* ``POST /v1/moderate`` latency (p50/p90/p99/max) and requests/s at concurrency 1 and 16 (``-n``
  requests per level, httpx clients in a thread pool, one keep-alive connection per thread); the
  baseline is ``GET /healthz`` at the same concurrency: the cost of HTTP and the framework alone;
* ``POST /v1/moderate/batch`` with 1,000-listing batches, one at a time: listings/s; the baseline
  is ``Engine.moderate`` in this process on the same listings (the cost of the engine alone).

Listings: the same ~1 KB real listings as ``bench_engine.py`` (``--size``). The machine has 2 cores:
the server is pinned to one, the load generator (this process) to the other when possible; the
load generator is Python and itself costs CPU, so the figures are a floor for the service, not a
ceiling. Targets: p99 <= 15 ms at concurrency 16; /batch >= 2,000 listings/s.
Writes ``bench/results/bench_http.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO_ROOT, build_listings, fmt_rate, listings_dir, machine, md_table, write_result  # noqa: E402

import httpx  # noqa: E402

TARGET_P99_MS = 15.0
TARGET_BATCH_RATE = 2000.0
BATCH_SIZE = 1000
CLIENTS = ("raw asyncio", "httpx threads")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moderate_cmd() -> list[str]:
    script = Path(sys.executable).with_name("moderate")
    if script.exists():
        return [str(script)]
    found = shutil.which("moderate")
    return [found] if found else [sys.executable, "-m", "app.cli.main"]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Server:
    def __init__(self, cpu: int | None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="bench_http_serve_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [*moderate_cmd(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
             "--log-level", "warning"],
            cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
        self.pinned = "not pinned"
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(self.proc.pid, {cpu})
                self.pinned = f"server pinned to CPU {cpu}"
            except OSError as exc:
                self.pinned = f"server not pinned ({exc})"

    def wait_ready(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moderate serve exited {self.proc.returncode}: {self.output()}")
            try:
                r = httpx.get(f"{self.base}/readyz", timeout=2)
                if r.status_code == 200:
                    return r.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"/readyz not 200 within {timeout:.0f} s: {self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        os.unlink(self.log.name)


def _summary(lat_s: list[float], bad: list[str], wall: float, cpu: tuple, client_cpu: float) -> dict:
    ms = [x * 1000 for x in lat_s]
    cpu0, cpu1 = cpu
    return {
        "n": len(ms), "errors": len(bad), "first_error": bad[0] if bad else None, "wall": wall,
        "rps": len(ms) / wall, "p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
        "max": max(ms), "mean": statistics.fmean(ms),
        "server_cpu_ms": (cpu1 - cpu0) * 1000 / len(ms) if cpu0 is not None and cpu1 is not None else None,
        "client_cpu_ms": client_cpu * 1000 / len(ms),
    }


def load_httpx(base: str, path: str, bodies: list[bytes] | None, n: int, concurrency: int, pid: int) -> dict:
    """``n`` requests (GET when ``bodies`` is None, else POST) over ``concurrency`` threads, one
    keep-alive ``httpx.Client`` each."""
    counter = itertools.count()
    lat: list[float] = []
    bad: list[str] = []
    lock = threading.Lock()
    headers = {"content-type": "application/json"}

    def worker() -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                i = next(counter)
                if i >= n:
                    break
                t = time.perf_counter()
                if bodies is None:
                    r = client.get(path)
                else:
                    r = client.post(path, content=bodies[i % len(bodies)], headers=headers)
                mine.append(time.perf_counter() - t)
                if r.status_code != 200:
                    with lock:
                        bad.append(f"{r.status_code} {r.text[:200]}")
        with lock:
            lat.extend(mine)

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # 16 client threads: hand the GIL over sooner (default 5 ms)
    cpu0, c0 = cpu_seconds(pid), time.process_time()
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            for f in [pool.submit(worker) for _ in range(concurrency)]:
                f.result()
    finally:
        sys.setswitchinterval(old)
    wall = time.perf_counter() - t0
    return _summary(lat, bad, wall, (cpu0, cpu_seconds(pid)), time.process_time() - c0)


async def _raw_run(port: int, requests: list[bytes], n: int, concurrency: int):
    counter = itertools.count()
    lat: list[float] = []
    bad: list[str] = []

    async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:] if ln)}
        if b"content-length" in hdrs:
            return status, await reader.readexactly(int(hdrs[b"content-length"]))
        body = b""
        while True:  # chunked
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                i = next(counter)
                if i >= n:
                    break
                t = time.perf_counter()
                writer.write(requests[i % len(requests)])
                status, body = await read_response(reader)
                lat.append(time.perf_counter() - t)
                if status != 200:
                    bad.append(f"{status} {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return lat, bad


def load_raw(port: int, path: str, bodies: list[bytes] | None, n: int, concurrency: int, pid: int) -> dict:
    """The same requests from a minimal asyncio HTTP/1.1 keep-alive client (pre-built request bytes,
    Content-Length parsing only): about a tenth of httpx's CPU per request, so the latency is
    closer to the server's own."""
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    if bodies is None:
        requests = [b"GET " + path.encode() + b" HTTP/1.1\r\n" + host + b"\r\n"]
    else:
        requests = [b"POST " + path.encode() + b" HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
                    + f"Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]
    cpu0, c0 = cpu_seconds(pid), time.process_time()
    t0 = time.perf_counter()
    lat, bad = asyncio.run(_raw_run(port, requests, n, concurrency))
    wall = time.perf_counter() - t0
    return _summary(lat, bad, wall, (cpu0, cpu_seconds(pid)), time.process_time() - c0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings-dir", help="default $MODERATE_LISTINGS_DIR or <repo>/../shared/data/listings")
    ap.add_argument("-n", type=int, default=2000, help="requests per level (default 2000)")
    ap.add_argument("--size", type=int, default=1024, help="listing size in bytes (default 1024)")
    ap.add_argument("--batches", type=int, default=10, help="1,000-listing batches to send (default 10)")
    ap.add_argument("--concurrency", default="1,16", help="levels (default 1,16)")
    ap.add_argument("--name", default="bench_http", help="result file name under bench/results/")
    args = ap.parse_args(argv)

    host = machine()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    data = build_listings(max(BATCH_SIZE, 3000), args.size, listings_dir(args.listings_dir))
    bodies = [json.dumps(d, ensure_ascii=False).encode() for d in data.listings]
    batch_bodies = [json.dumps({"listings": data.listings[i:i + BATCH_SIZE]}, ensure_ascii=False).encode()
                    for i in range(0, len(data.listings) - BATCH_SIZE + 1, BATCH_SIZE)]

    server = Server(server_cpu)
    client_pin = "load generator not pinned"
    if server_cpu is not None:
        os.sched_setaffinity(0, set(cpus[1:]))
        client_pin = f"load generator pinned to CPU {', '.join(map(str, cpus[1:]))}"
    try:
        ready = server.wait_ready()
        pid = server.proc.pid
        # warm-up: the first requests pay for lazy tables and connection set-up
        load_httpx(server.base, "/v1/moderate", bodies, 300, 4, pid)
        load_raw(server.port, "/healthz", None, 300, 4, pid)
        httpx.post(f"{server.base}/v1/moderate/batch", content=batch_bodies[0],
                   headers={"content-type": "application/json"}, timeout=300).raise_for_status()

        levels = [int(c) for c in args.concurrency.split(",")]
        latency: dict[tuple[int, str], dict[str, dict]] = {}
        for c in levels:
            for client in CLIENTS:
                if client == "raw asyncio":
                    run = lambda path, b: load_raw(server.port, path, b, args.n, c, pid)  # noqa: E731
                else:
                    run = lambda path, b: load_httpx(server.base, path, b, args.n, c, pid)  # noqa: E731
                latency[c, client] = {"healthz": run("/healthz", None), "moderate": run("/v1/moderate", bodies)}
                m, h = latency[c, client]["moderate"], latency[c, client]["healthz"]
                print(f"c={c} {client}: moderate p50 {m['p50']:.2f} p99 {m['p99']:.2f} ms {m['rps']:.0f}/s; "
                      f"healthz p50 {h['p50']:.2f} p99 {h['p99']:.2f} ms", file=sys.stderr)

        # batch: sequential 1,000-listing batches
        cpu0 = cpu_seconds(pid)
        per_batch = []
        actions: dict[str, int] = {}
        slot_errors = 0
        with httpx.Client(base_url=server.base, timeout=300) as client:
            for i in range(args.batches):
                body = batch_bodies[i % len(batch_bodies)]
                t = time.perf_counter()
                r = client.post("/v1/moderate/batch", content=body, headers={"content-type": "application/json"})
                per_batch.append(time.perf_counter() - t)
                r.raise_for_status()
                decisions = r.json()["decisions"]
                assert len(decisions) == BATCH_SIZE, len(decisions)
                for d in decisions:
                    if "error" in d:
                        slot_errors += 1
                    else:
                        actions[d["action"]] = actions.get(d["action"], 0) + 1
        cpu1 = cpu_seconds(pid)
        batch_rate = BATCH_SIZE * len(per_batch) / sum(per_batch)
        batch_cpu = (cpu1 - cpu0) * 1000 / (BATCH_SIZE * len(per_batch)) if cpu0 is not None and cpu1 is not None else None
    finally:
        server.stop()

    # baseline for /batch: the engine in this process on the same listings (this process's CPU)
    from app.engine import Engine
    from app.models import Listing

    engine = Engine()
    same = [Listing.model_validate(d) for d in data.listings[:BATCH_SIZE * min(args.batches, len(batch_bodies))]]
    for li in same[:200]:
        engine.moderate(li)
    t = time.perf_counter()
    for li in same:
        engine.moderate(li)
    engine_rate = len(same) / (time.perf_counter() - t)

    rows = []
    for (c, client), res in latency.items():
        h, m = res["healthz"], res["moderate"]
        for name, r in (("GET /healthz (baseline)", h), ("POST /v1/moderate", m)):
            rows.append([c, client, name, f"{r['n']:,}", f"{r['p50']:.2f}", f"{r['p90']:.2f}", f"{r['p99']:.2f}",
                         f"{r['max']:.1f}", fmt_rate(r["rps"]),
                         f"{r['server_cpu_ms']:.2f}" if r["server_cpu_ms"] is not None else "–",
                         f"{r['client_cpu_ms']:.2f}", r["errors"]])
        rows.append([c, client, "ratio moderate / healthz", "", f"{m['p50'] / h['p50']:.1f}×",
                     f"{m['p90'] / h['p90']:.1f}×", f"{m['p99'] / h['p99']:.1f}×", "", f"{m['rps'] / h['rps']:.2f}×",
                     "", "", ""])
    verdicts = []
    for client in CLIENTS:
        r = latency.get((16, client), {}).get("moderate")
        if r is not None:
            verdicts.append(f"{r['p99']:.2f} ms with the {client} client: "
                            f"{'met' if r['p99'] <= TARGET_P99_MS else 'NOT met'}")
    verdict_p99 = "; ".join(verdicts) or "not measured (concurrency 16 not run)"
    batch_rows = [
        ["POST /v1/moderate/batch (1,000 listings, sequential)", f"{len(per_batch)} × {BATCH_SIZE:,}",
         fmt_rate(batch_rate), f"{statistics.median(per_batch) * 1000:.0f}",
         f"{batch_cpu:.3f}" if batch_cpu is not None else "–"],
        ["baseline: Engine.moderate in the bench process", f"{len(same):,}", fmt_rate(engine_rate),
         f"{BATCH_SIZE / engine_rate * 1000:.0f}", "–"],
        ["ratio /batch / in-process engine", "", f"**{batch_rate / engine_rate:.2f}×**", "", ""],
    ]
    errors = [f"c={c} {client} {k}: {v['errors']} non-200, first: {v['first_error']}"
              for (c, client), res in latency.items() for k, v in res.items() if v["errors"]]
    report = "\n".join([
        "# HTTP benchmark: `moderate serve`, one uvicorn worker",
        "",
        f"- {host}.",
        f"- {server.pinned}; {client_pin}. **The load generator (this Python process) shares this "
        "2-core machine with the server**, so client overhead is inside every latency below; the "
        "`/healthz` rows measure that floor (HTTP + framework + client). Two clients: `httpx threads` "
        "(one `httpx.Client` per thread, as a Python service would call us; GIL switch interval 0.5 ms) "
        "and `raw asyncio` (pre-built HTTP/1.1 requests on keep-alive sockets, ~10x less client CPU per "
        "request), which is the closer view of the server's own latency. The client CPU column is the "
        "load generator's CPU time per request.",
        f"- Server ready: policy {ready.get('policy_version', '?')}. Data: {data.source}; "
        f"mean listing {data.mean_bytes() / 1024:.2f} KB (title + description).",
        f"- {args.n:,} requests per concurrency level after a warm-up; closed loop (each thread sends its next "
        "request when the previous answer arrives), one keep-alive connection per thread.",
        "",
        "## Latency (ms) and throughput",
        "",
        md_table(["concurrency", "client", "request", "requests", "p50", "p90", "p99", "max", "req/s",
                  "server CPU ms/req", "client CPU ms/req", "non-200"], rows),
        "",
        f"Target p99 ≤ {TARGET_P99_MS:.0f} ms at concurrency 16: {verdict_p99}.",
        "",
        "## Batch throughput",
        "",
        md_table(["run", "listings", "listings/s", "ms per 1,000", "server CPU ms/listing"], batch_rows),
        "",
        f"Target /batch ≥ {TARGET_BATCH_RATE:,.0f} listings/s: {batch_rate:,.0f}: "
        f"{'met' if batch_rate >= TARGET_BATCH_RATE else 'NOT met'}. Decisions: "
        + ", ".join(f"{a} {n:,}" for a, n in sorted(actions.items())) + f"; error slots {slot_errors}.",
        *(["", "Errors: " + "; ".join(errors)] if errors else []),
        "",
        "Reproduce: `python bench/bench_http.py` (see bench/README.md).",
        "",
    ])
    path = write_result(args.name, report)
    print(report)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
