"""Throughput cost of the rule families (issue 4: all families on stays within 20 % of the engine of the
first issue, which had the e-cigarette and instrument lexicons).

Usage::

    python bench/bench_families.py [-n 1500] [--repeat 3] [--bytes 1000]

Two engines are built in one process from the same checkout, the text classifier off (it is measured in
``bench/bench_classifier.py``): **base** loads only ``e_cigarette.yaml`` and ``controlled_instrument.yaml``
(plus the CAS lists, as the first issue's engine did); **all** loads every lexicon of ``lexicons/``. They
moderate the same real listings (``benchlib.build_listings``: thirds of vape / benign / hard-negative
titles padded to ~1 KB with other real text), alternately, best of ``--repeat`` passes, on one pinned
core. The ratio is what this measures; absolute listings/s depend on the machine and its load.
Writes ``bench/results/bench_families.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO_ROOT, build_listings, listings_dir, machine, pin_one_core, write_result  # noqa: E402

BASE_LEXICONS = ("e_cigarette.yaml", "controlled_instrument.yaml")
TARGET_SLOWDOWN = 0.20


def _time(engine, listings) -> float:
    t0 = time.perf_counter()
    for li in listings:
        engine.moderate(li)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=1000)
    ap.add_argument("--listings-dir", default=None)
    a = ap.parse_args(argv)
    os.environ["MODERATE_CLASSIFIER"] = "off"
    pinned = pin_one_core()
    from app.config import Settings
    from app.engine import Engine
    from app.models import Listing

    data = build_listings(a.n, a.bytes, listings_dir(a.listings_dir))
    listings = [Listing.model_validate(d) for d in data.listings]
    with tempfile.TemporaryDirectory() as tmp:
        lex = Path(tmp) / "lexicons"
        lex.mkdir()
        for name in BASE_LEXICONS:
            shutil.copy(REPO_ROOT / "lexicons" / name, lex / name)
        base = Engine(Settings(lexicon_dir=lex))
        full = Engine()
        best = {"base": float("inf"), "all": float("inf")}
        for _ in range(a.repeat):
            best["base"] = min(best["base"], _time(base, listings))
            best["all"] = min(best["all"], _time(full, listings))
        fams_base = sorted(base.snapshot.lexicons)
        fams_all = sorted(full.snapshot.lexicons)
        terms = (base.snapshot.matcher.term_count, full.snapshot.matcher.term_count)
        keys = (base.snapshot.matcher.form_count, full.snapshot.matcher.form_count)
    rate = {k: len(listings) / v for k, v in best.items()}
    slowdown = 1 - rate["all"] / rate["base"]
    md = "\n".join([
        "# Throughput with all rule families on",
        "",
        f"- {machine()}; {pinned}.",
        f"- Data: {data.source}; {len(listings)} listings, mean {data.mean_bytes() / 1000:.2f} KB.",
        "- Text classifier off in both engines (it is measured in `bench/bench_classifier.py`).",
        f"- Best of {a.repeat} alternating passes.",
        "",
        "| engine | lexicons | terms | automaton keys (view A) | listings/s | ms/listing |",
        "|---|---|---:|---:|---:|---:|",
        f"| base (issue 1 families) | {', '.join(fams_base)} | {terms[0]} | {keys[0]} | {rate['base']:,.0f} | "
        f"{1000 / rate['base']:.3f} |",
        f"| all families | {', '.join(fams_all)} | {terms[1]} | {keys[1]} | {rate['all']:,.0f} | "
        f"{1000 / rate['all']:.3f} |",
        "",
        f"Slowdown with all families on: **{slowdown:.1%}** (target ≤ {TARGET_SLOWDOWN:.0%}: "
        f"{'met' if slowdown <= TARGET_SLOWDOWN else 'NOT met'}).",
        "",
    ])
    print(md)
    path = write_result("bench_families", md)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
