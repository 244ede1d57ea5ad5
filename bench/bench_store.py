"""What storing every decision costs (issue 8: the audit store).

Usage::

    python bench/bench_store.py [-n 2000] [--pg-url postgresql+psycopg://...]

Measures, on the same listings (a fixed mix of 8 titles written for this benchmark: blocks,
allows, a review item; no external data):

* in process: ``record_decision`` + commit, one transaction per decision, on an SQLite file (WAL,
  synchronous=NORMAL) and, with ``--pg-url``, on PostgreSQL: per-call p50/p90/p99;
* through the group-commit writer (``app/store/writer.py``): 16 concurrent writers on one event
  loop, ``inline`` and ``thread`` groups: CPU and wall ms per decision, decisions per commit;
* over HTTP: a ``moderate serve --workers 1`` subprocess (its own SQLite store), requests
  alternating between ``POST /v1/moderate`` (stored) and ``POST /v1/moderate?store=false`` (the
  bypass: the same work without the store) on one keep-alive connection, so both see the same
  server state; then the same at concurrency 16 (threads, one connection each). The difference of
  the two is the store's overhead per call.

Writes ``bench/results/bench_store.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TITLES = [
    "Mango e-liquid 60ml 50mg nic salt", "Cotton T-shirt, 100% organic, sizes S-XXL",
    "Stun gun flashlight 1000kV", "Stainless steel garlic press, dishwasher safe",
    "Nunchaku foam training", "Vape pen starter kit 1100mAh", "LED desk lamp with USB charger",
    "Handcuffs police grade steel",
]


def listing(i: int) -> dict:
    return {"listing_id": f"bench-{i}", "title": TITLES[i % len(TITLES)],
            "description": "Wholesale, MOQ 100 pieces. Fast shipping from Shenzhen. " * 8,
            "seller": {"seller_id": f"seller-{i % 50}", "country": "CN"}}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def fmt(xs: list[float]) -> str:
    return " | ".join(f"{pct(xs, p) * 1000:.3f}" for p in (50, 90, 99))


def in_process(url: str, n: int) -> list[float]:
    from app.engine import Engine
    from app.models import Listing
    from app.store import Store, record_decision

    engine = Engine()
    store = Store(url).ready()
    items = [Listing.model_validate(listing(i)) for i in range(n)]
    decisions = [engine.moderate(x) for x in items]
    for x, d in zip(items[:50], decisions[:50]):  # warm-up
        with store.begin() as s:
            record_decision(s, x, d.model_copy(update={"decision_id": d.decision_id + "w"}), engine.snapshot.policy)
    times = []
    for x, d in zip(items, decisions):
        t = time.perf_counter()
        with store.begin() as s:
            record_decision(s, x, d, engine.snapshot.policy)
        times.append(time.perf_counter() - t)
    store.dispose()
    return times


def grouped(url: str, n: int, mode: str, group: int = 16) -> dict[str, float]:
    """``record_decision`` through the group-commit writer (app/store/writer.py): ``group``
    concurrent writers on one event loop, as ``group`` concurrent requests would send them.
    Returns CPU and wall ms per decision and decisions per commit."""
    import asyncio

    from app.engine import Engine
    from app.models import Listing
    from app.store import Store, record_decision
    from app.store.writer import GroupWriter

    engine = Engine()
    store = Store(url).ready()
    writer = GroupWriter(store, mode=mode)
    policy = engine.snapshot.policy
    items = [Listing.model_validate(listing(i)) for i in range(n)]
    decisions = [engine.moderate(x) for x in items]

    async def rounds(lo: int, hi: int) -> None:
        for start in range(lo, hi, group):
            await asyncio.gather(*[writer.run(lambda s, x=x, d=d: record_decision(s, x, d, policy),
                                              listing_ids=[x.listing_id])
                                   for x, d in zip(items[start:min(start + group, hi)],
                                                   decisions[start:min(start + group, hi)])])

    asyncio.run(rounds(0, min(64, n)))  # warm-up
    before = writer.stats.groups, writer.stats.jobs
    c0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(rounds(min(64, n), n))
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    done = n - min(64, n)
    groups, jobs = writer.stats.groups - before[0], writer.stats.jobs - before[1]
    writer.close()
    store.dispose()
    return {"cpu_ms": cpu * 1000 / done, "wall_ms": wall * 1000 / done, "per_commit": jobs / max(groups, 1)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(n: int, tmp: Path) -> dict[str, list[float]]:
    import httpx

    port = free_port()
    env = {**os.environ, "MODERATE_STATE_DIR": str(tmp / "state")}
    env.pop("MODERATE_DATABASE_URL", None)
    moderate = Path(sys.executable).with_name("moderate")
    proc = subprocess.Popen([str(moderate), "serve", "--port", str(port), "--workers", "1", "--log-level", "warning"],
                            cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        out: dict[str, list[float]] = {"stored c1": [], "bypass c1": [], "stored c16": [], "bypass c16": []}
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(200):  # warm-up
                c.post("/v1/moderate", json=listing(i))
            for i in range(n):
                body = listing(i)
                for path, key in (("/v1/moderate", "stored c1"), ("/v1/moderate?store=false", "bypass c1"))[::1 if i % 2 else -1]:
                    t = time.perf_counter()
                    r = c.post(path, json=body)
                    out[key].append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text

        def worker(k: int) -> dict[str, list[float]]:
            got = {"stored c16": [], "bypass c16": []}
            with httpx.Client(base_url=base, timeout=60) as c:
                for i in range(k, n, 16):
                    for path, key in (("/v1/moderate", "stored c16"), ("/v1/moderate?store=false", "bypass c16")):
                        t = time.perf_counter()
                        r = c.post(path, json=listing(i))
                        got[key].append(time.perf_counter() - t)
                        assert r.status_code == 200, r.text
            return got

        with ThreadPoolExecutor(16) as pool:
            for got in pool.map(worker, range(16)):
                for k, v in got.items():
                    out[k].extend(v)
        return out
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--pg-url", default=os.environ.get("MODERATE_BENCH_PG_URL"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    lines = [f"# bench_store — the cost of storing each decision\n",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; load average at start {os.getloadavg()[0]:.1f} (figures are only "
             f"comparable on an otherwise idle machine); n = {args.n} per series. Times in ms (p50 | p90 | p99).\n",
             "| series | p50 | p90 | p99 |", "|---|---|---|---|"]
    sq = in_process(f"sqlite:///{tmp}/inproc.sqlite3", args.n)
    lines.append(f"| record_decision + commit, SQLite file (WAL) | {fmt(sq)} |")
    if args.pg_url:
        pg = in_process(args.pg_url, args.n)
        lines.append(f"| record_decision + commit, PostgreSQL 15 (local, fsync off) | {fmt(pg)} |")
    group_rows = []
    for mode in ("inline", "thread"):
        g = grouped(f"sqlite:///{tmp}/group-{mode}.sqlite3", args.n, mode)
        group_rows.append(f"| SQLite, `{mode}` groups | {g['cpu_ms']:.3f} | {g['wall_ms']:.3f} | {g['per_commit']:.1f} |")
        if args.pg_url and mode == "thread":
            g = grouped(args.pg_url, args.n, mode)
            group_rows.append(f"| PostgreSQL, `{mode}` groups | {g['cpu_ms']:.3f} | {g['wall_ms']:.3f} | "
                              f"{g['per_commit']:.1f} |")
    h = http(args.n, tmp)
    for k in ("stored c1", "bypass c1", "stored c16", "bypass c16"):
        lines.append(f"| POST /v1/moderate, {'store=false' if 'bypass' in k else 'stored'}, concurrency "
                     f"{k.split('c')[-1]} | {fmt(h[k])} |")
    for c in ("c1", "c16"):
        d50 = (pct(h[f'stored {c}'], 50) - pct(h[f'bypass {c}'], 50)) * 1000
        d99 = (pct(h[f'stored {c}'], 99) - pct(h[f'bypass {c}'], 99)) * 1000
        lines.append(f"\nStore overhead per call at concurrency {c[1:]}: p50 {d50:+.3f} ms, p99 {d99:+.3f} ms.")
    lines += ["", "## Group commit (app/store/writer.py): 16 concurrent writers on one event loop", "",
              "CPU and wall time per stored decision (ms; CPU of all threads of the process) and decisions per "
              "commit, for the same decisions as above.", "",
              "| store | CPU ms/decision | wall ms/decision | decisions per commit |", "|---|---|---|---|",
              *group_rows]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / "bench_store.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
