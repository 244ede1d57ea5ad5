"""The work after the scan: the engine's fast paths against the plain computation, in one process.

Usage::

    python bench/bench_post_scan.py [--listings-dir DIR] [-n 1500] [--rounds 3] [--bytes 1024]

Listings as ``bench_engine.py`` builds them (benchlib: equal thirds vape / benign / hard negatives, real
titles with descriptions of other real text, ~1 KB). Every lexicon check runs; the text classifier is
off (``MODERATE_CLASSIFIER=off`` unless set). Per listing, alternately first and second:

* **fast**: ``Engine.moderate`` as shipped;
* **plain**: the same engine with the code the fast paths replaced (``tests/plain_post_scan.py``:
  validated Evidence / Violation / Decision, ``spans.outermost`` with key functions, the plain
  ``decide``, ``uuid.uuid4()``, the checks' previous code).

Both share normalisation and the scan (``prepare``), which is timed separately so the table shows
the post-scan part too. CPU time (``time.process_time``), so other processes on the machine count
less. The decisions are compared (everything but ``decision_id``). Writes
``bench/results/bench_post_scan.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("MODERATE_CLASSIFIER", "off")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import build_listings, listings_dir, machine, md_table, pin_one_core, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listings-dir")
    ap.add_argument("-n", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=1024)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    pinned = pin_one_core()

    from app.engine import Engine, core
    from app.models import Listing
    from tests.plain_post_scan import plain_checks, plain_moderate

    directory = listings_dir(args.listings_dir)
    data = build_listings(args.n, args.bytes, directory)
    listings = [Listing.model_validate(d) for d in data.listings]
    kinds = [d["listing_id"].rsplit("-", 1)[0] for d in data.listings]
    engine = Engine()

    prep = {"t": 0.0}
    clock = time.process_time
    real_prepare = core.prepare

    def timed_prepare(*a):
        t = clock()
        try:
            return real_prepare(*a)
        finally:
            prep["t"] += clock() - t

    core.prepare = timed_prepare
    try:
        paths = {"fast": engine.moderate, "plain": lambda li: plain_moderate(engine, li)}
        for li in listings[:200]:  # warm-up
            paths["fast"](li), paths["plain"](li)
        differ = sum(paths["fast"](li).model_dump(exclude={"decision_id"})
                     != paths["plain"](li).model_dump(exclude={"decision_id"}) for li in listings)
        total = defaultdict(float)
        post = defaultdict(float)
        count = defaultdict(int)
        for r in range(args.rounds):
            for i, (li, kind) in enumerate(zip(listings, kinds)):
                count[kind] += 1
                for name in (("fast", "plain") if (i + r) % 2 else ("plain", "fast")):
                    p0 = prep["t"]
                    t0 = clock()
                    paths[name](li)
                    dt_ = clock() - t0
                    total[(name, kind)] += dt_
                    post[(name, kind)] += dt_ - (prep["t"] - p0)
    finally:
        core.prepare = real_prepare

    # the plain path swaps the checks' code in and out around each listing: what that costs
    t0 = clock()
    for _ in range(20_000):
        with plain_checks():
            pass
    switch_us = (clock() - t0) / 20_000 * 1e6

    rows = []
    for kind in [*sorted(count), "all"]:
        ks = sorted(count) if kind == "all" else [kind]
        c = sum(count[k] for k in ks)

        def us(acc, name):
            return sum(acc[(name, k)] for k in ks) / c * 1e6

        tp, tf, pp, pf = us(total, "plain"), us(total, "fast"), us(post, "plain"), us(post, "fast")
        rows.append([kind, f"{c:,}", f"{tp:.1f}", f"{tf:.1f}", f"**{tp - tf:.1f}**", f"{pp:.1f}", f"{pf:.1f}",
                     f"{100 * (1 - pf / pp):.0f} %", f"{1e6 / tp:,.0f} → {1e6 / tf:,.0f}"])
    text = "\n".join([
        "# Post-scan work: fast paths against the plain computation",
        "",
        f"{machine()}; {pinned}. Listings: {data.source}; mean {data.mean_bytes() / 1024:.2f} KB; "
        f"{len(listings):,} listings × {args.rounds} rounds, the two paths alternating listing by listing; "
        f"CPU time (process_time). Classifier: {os.environ.get('MODERATE_CLASSIFIER')}.",
        f"Decisions that differ between the two paths (all but decision_id): **{differ}** of {len(listings):,}.",
        "",
        md_table(["listings", "timed", "plain µs/listing", "fast µs/listing", "saved µs/listing",
                  "post-scan plain µs", "post-scan fast µs", "post-scan cut", "listings/s"], rows),
        "",
        "Post-scan = `Engine.moderate` minus `prepare()` (normalisation and the lexicon scan, shared by "
        "both paths): the checks, `decide()` and the Decision model. The plain path's figures include "
        f"swapping the plain check code in and out around each listing: {switch_us:.1f} µs per listing.",
        "",
    ])
    print(text)
    if not args.no_write:
        print(f"wrote {write_result('bench_post_scan', text)}")


if __name__ == "__main__":
    main()
