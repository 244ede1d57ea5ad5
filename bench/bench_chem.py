"""Throughput of the hazardous-chemical check on listings with long supplier descriptions (one core).

Usage::

    python bench/bench_chem.py [--listings-dir DIR] [-n 300] [--kb 10] [--repeat 3]

Listings (issue "hazardous chemicals", Measure): a ~10 KB description of supplier text full of
numbers, in a chemicals category (so every dashed number of CAS shape is read as a CAS, the most
work), with ``CAS No.``, ``MF`` and ``SMILES`` attributes (a different listed structure per listing, from
``cas_lists/structures.csv``; caches cleared before each pass). Two text variants:

* **catalogue**: lines ``<product> | CAS No: <number> | 98% | 25 kg drum | MOQ 1 kg`` from the real
  fine-chemical catalogue ``../shared/data/listings/chemicals_cas.csv`` (read there, never copied);
  few of its numbers are listed;
* **listed**: the same line shape with the names and CAS numbers of ``cas_lists/`` itself: every
  number is a listed substance, the worst case for findings (gate, evidence, messages).

Timed, best of ``--repeat`` passes over the same listings: the chemical check's ``run`` alone on
prepared listings (normalisation and the shared automaton pass done beforehand: they are the
engine's, shared by all checks), and the whole ``Engine.moderate`` (every check, decision, model).
Target: the chemical check >= 2,000 listings/s on one core. Writes ``bench/results/bench_chem.md``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO_ROOT, fmt_rate, listings_dir, machine, md_table, pin_one_core, read_rows, write_result  # noqa: E402

from app.checks import chemstruct  # noqa: E402
from app.checks.chemids import cas_check, find_cas_in_text, find_ec_in_text  # noqa: E402
from app.engine import Engine  # noqa: E402
from app.engine.core import prepare  # noqa: E402
from app.models import Listing  # noqa: E402

CATEGORY = "Chemicals > Organic Intermediates"
PACKS = ("25 kg drum", "1 kg bottle", "200 L drum", "500 g", "IBC 1000 L")


def _lines_catalogue(directory: Path) -> list[str]:
    rows = read_rows(directory / "chemicals_cas.csv")
    return [f"{r['title'].strip()} | {r['description'].strip()}" for r in rows if r["title"].strip()]


def _lines_listed() -> list[str]:
    out = []
    for name in ("prohibited.csv", "restricted.csv"):
        with (REPO_ROOT / "cas_lists" / name).open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                out.append(f"{r['name_cn'] or r['name_en']} | CAS No: {r['cas']}")
    return out


def _smiles() -> list[tuple[str, str]]:
    with (REPO_ROOT / "cas_lists" / "structures.csv").open(encoding="utf-8", newline="") as fh:
        return [(r["smiles"], r["formula"]) for r in csv.DictReader(fh) if r["smiles"]]


SMILES = _smiles()


def build(lines: list[str], n: int, kb: float, seed: int) -> list[Listing]:
    rng = random.Random(seed)
    target = int(kb * 1024)
    out = []
    for i in range(n):
        parts, size = [], 0
        while size < target:
            line = f"{rng.choice(lines)} | {rng.randint(95, 99)}.{rng.randint(0, 9)}% | {rng.choice(PACKS)} | MOQ {rng.randint(1, 50)} kg"
            parts.append(line)
            size += len(line.encode()) + 1
        first = parts[0].split(" | ")
        cas = next((p.split(": ")[1] for p in first if p.startswith("CAS No: ")), "")
        smiles, formula = rng.choice(SMILES)   # a different structure per listing
        out.append(Listing(listing_id=f"chem-{i}", title=first[0][:200] or "chemical", description="\n".join(parts),
                           category=CATEGORY, attributes={"CAS No.": cas, "MF": formula, "SMILES": smiles},
                           as_of="2024-06-01"))
    return out


def clear_caches() -> None:
    """The check caches parsed structures and CAS check digits (repeats across a catalogue are real);
    each timed pass starts cold so that the figure is per distinct listing."""
    cas_check.cache_clear()
    chemstruct.parse_smiles.cache_clear()
    chemstruct.parse_inchi.cache_clear()


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        clear_caches()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings-dir")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--kb", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    pinned = pin_one_core()
    t0 = time.perf_counter()
    engine = Engine()
    built = time.perf_counter() - t0
    snap = engine.snapshot
    check = next(c for c in snap.checks if c.name == "hazardous_chemical")
    directory = listings_dir(args.listings_dir)
    variants = {}
    if (directory / "chemicals_cas.csv").is_file():
        variants["catalogue"] = _lines_catalogue(directory)
    variants["listed"] = _lines_listed()
    rows, details, stages = [], [], []
    for name, lines in variants.items():
        listings = build(lines, args.n, args.kb, 20261123)
        size = sum(len(x.description.encode()) for x in listings) / len(listings) / 1024
        numbers = sum(x.description.count("CAS No:") for x in listings) / len(listings)
        items = [prepare(x, snap) for x in listings]
        findings = sum(len(check.run(it)) for it in items)
        t_check = best(lambda: [check.run(it) for it in items], args.repeat)
        t_prep = best(lambda: [prepare(x, snap) for x in listings], args.repeat)
        t_engine = best(lambda: [engine.moderate(x) for x in listings], args.repeat)
        n = len(listings)
        rate = n / t_check
        texts = [x.description for x in listings]
        t_ids = best(lambda: [(find_cas_in_text(t, True), find_ec_in_text(t)) for t in texts], args.repeat)
        t_struct = best(lambda: [chemstruct.parse_smiles(x.attributes["SMILES"]) for x in listings], args.repeat)
        stages.append([name, f"{1000 * t_ids / n:.3f}", f"{1000 * t_struct / n:.3f}",
                       f"{1000 * (t_check - t_ids - t_struct) / n:.3f}"])
        rows.append([name, f"{size:.1f} KB", f"{numbers:.0f}", fmt_rate(rate), f"{1000 * t_check / n:.3f}",
                     "met" if rate >= 2000 else "NOT met", fmt_rate(n / t_prep), fmt_rate(n / t_engine),
                     f"{1000 * t_engine / n:.3f}"])
        details.append(f"- {name}: {n} listings, {findings / n:.1f} chemical findings per listing.")
    text = "\n".join([
        "# Hazardous-chemical check on ~10 KB supplier descriptions (one core)",
        "",
        f"- {machine()}; {pinned}.",
        f"- Engine built in {built:.2f} s ({len(snap.checks)} checks; chemical check: {len(check.listed)} listed CAS, "
        f"{check.name_count} names, {check.structures.rows} structures, {len(check.cas_variants)} one-digit CAS variants).",
        f"- Listings: category `{CATEGORY}` (bare CAS numbers read), attributes CAS No. / MF / SMILES; "
        f"descriptions from {directory / 'chemicals_cas.csv'} lines (catalogue) and cas_lists/ rows (listed). "
        f"Best of {args.repeat} passes.",
        "- `check.run` = the chemical check alone on prepared listings; `prepare` = normalisation + the shared automaton "
        "pass (the engine's, for all checks); `Engine.moderate` = everything (all checks, decide, Decision).",
        "",
        md_table(["text", "size", "CAS numbers", "chemical check listings/s", "ms/listing", "target ≥ 2,000/s",
                  "prepare listings/s", "Engine.moderate listings/s", "engine ms/listing"], rows),
        "",
        *details,
        "",
        "Where the chemical check's time goes (ms per listing; cold caches):",
        "",
        md_table(["text", "CAS + EC numbers in the description", "SMILES attribute (RDKit)", "the rest (names, "
                  "near misses, gate, evidence)"], stages),
        "",
        f"Load average when the run started: {load:.1f} on {os.cpu_count()} CPUs (other jobs were running: "
        "figures scale with the share of the core this process got).",
        "",
    ])
    print(text)
    if not args.no_write:
        print(write_result("bench_chem", text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
