"""Throughput of the hazardous-chemical check on listings with long supplier descriptions (one core).

Usage::

    python bench/bench_chem.py [--listings-dir DIR] [-n 300] [--kb 10] [--repeat 3] [--before REV]

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

``--before REV`` also loads the check's three modules as they were at git revision ``REV`` (``git
show``, under ``_chem_before.*``; the rest of the app is shared), checks that they give the same
findings on the bench listings, and times them in the same process, passes taken in turn with the
current ones (a busy machine then slows both alike). The split of the check's time (identifiers,
SMILES, MF, the rest) and of the engine's (prepare, the check, the others) is printed too.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO_ROOT, fmt_rate, listings_dir, machine, md_table, pin_one_core, read_rows, write_result  # noqa: E402

from app.checks import chemids, chemstruct  # noqa: E402
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


BEFORE_PACKAGE = "_chem_before"


def before_check(rev: str, check):
    """The chemical check as it was at git revision ``rev``: its three modules (chem, chemids,
    chemstruct) read with ``git show`` and loaded under ``_chem_before.*``, the rest of the app
    shared. Built like the registry builds the current one, over the same ``cas_lists/``."""
    import subprocess
    import types

    def source(name: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_ROOT), "show", f"{rev}:app/checks/{name}.py"], check=True,
                              capture_output=True, text=True).stdout

    pkg = types.ModuleType(BEFORE_PACKAGE)
    pkg.__path__ = []
    sys.modules[BEFORE_PACKAGE] = pkg
    mods = {}
    for name in ("chemids", "chemstruct", "chem"):
        code = source(name)
        if name == "chem":
            code = code.replace("from app.checks import chemstruct, qualifications",
                                f"from {BEFORE_PACKAGE} import chemstruct\nfrom app.checks import qualifications")
            code = code.replace("from app.checks.chemids import", f"from {BEFORE_PACKAGE}.chemids import")
        mod = types.ModuleType(f"{BEFORE_PACKAGE}.{name}")
        mod.__file__ = f"<{rev}:app/checks/{name}.py>"
        sys.modules[mod.__name__] = mod
        setattr(pkg, name, mod)
        exec(compile(code, mod.__file__, "exec"), mod.__dict__)
        mods[name] = mod
    old = mods["chem"].ChemicalCheck(check.lists_dir, normalizer=check_normalizer(check))
    if old.automaton_keys() != check.automaton_keys():
        raise SystemExit(f"{rev}: the chemical names differ, the shared automaton pass cannot serve both")
    return old, mods


def check_normalizer(check):
    from app.normalization import Normalizer

    return getattr(check, "normalizer", None) or Normalizer()


def clear_caches(*modules) -> None:
    """The check caches parsed structures and CAS check digits (repeats across a catalogue are real);
    each timed pass starts cold so that the figure is per distinct listing."""
    for mod in (chemids, chemstruct, *modules):
        for name in ("cas_check", "parse_smiles", "parse_inchi", "_formula_counts_cached"):
            fn = getattr(mod, name, None)
            if fn is not None and hasattr(fn, "cache_clear"):
                fn.cache_clear()


CLOCK = time.perf_counter   # --clock cpu: time.process_time (this process's CPU time)


def best(fn, repeat: int, *modules) -> float:
    times = []
    for _ in range(repeat):
        clear_caches(*modules)
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return min(times)


def interleaved(fns: dict, repeat: int, modules) -> dict[str, float]:
    """Best time of each function, the passes taken in turn (a busy machine slows all alike)."""
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            clear_caches(*modules)
            t = CLOCK()
            fn()
            times[k].append(CLOCK() - t)
    return {k: min(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings-dir")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--kb", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", metavar="REV", help="also time the check as it was at this git revision "
                    "(same process, passes taken in turn) and check both give the same findings")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time passes by the wall clock (default) or by this process's CPU time (a machine "
                         "shared with other jobs: the CPU time is what one core spends)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    pinned = pin_one_core()
    t0 = time.perf_counter()
    engine = Engine()
    built = time.perf_counter() - t0
    snap = engine.snapshot
    check = next(c for c in snap.checks if c.name == "hazardous_chemical")
    t0 = time.perf_counter()
    type(check)(check.lists_dir, normalizer=check_normalizer(check))
    t_check_built = time.perf_counter() - t0
    old = old_engine = None
    modules: tuple = ()
    if args.before:
        old, mods = before_check(args.before, check)
        modules = tuple(mods.values())
        old_engine = Engine(snapshot=dataclasses.replace(snap, checks=tuple(old if c is check else c
                                                                             for c in snap.checks)))
    directory = listings_dir(args.listings_dir)
    variants = {}
    if (directory / "chemicals_cas.csv").is_file():
        variants["catalogue"] = _lines_catalogue(directory)
    variants["listed"] = _lines_listed()
    rows, details, stages, engine_split = [], [], [], []
    for name, lines in variants.items():
        listings = build(lines, args.n, args.kb, 20261123)
        size = sum(len(x.description.encode()) for x in listings) / len(listings) / 1024
        numbers = sum(x.description.count("CAS No:") for x in listings) / len(listings)
        items = [prepare(x, snap) for x in listings]
        got = [check.run(it) for it in items]
        findings = sum(len(f) for f in got)
        n = len(listings)
        fns = {"check": lambda: [check.run(it) for it in items]}
        if old is not None:
            clear_caches(*modules)
            same = [old.run(it) for it in items] == got
            details.append(f"- {name}: the check at {args.before} gives "
                           f"{'the same findings' if same else 'DIFFERENT findings'} on these {n} listings.")
            fns["before"] = lambda: [old.run(it) for it in items]
        t = interleaved(fns, args.repeat, modules)
        t_check = t["check"]
        t_prep = best(lambda: [prepare(x, snap) for x in listings], args.repeat, *modules)
        eng = {"engine": lambda: [engine.moderate(x) for x in listings]}
        if old_engine is not None:
            eng["before"] = lambda: [old_engine.moderate(x) for x in listings]
        te = interleaved(eng, args.repeat, modules)
        t_engine = te["engine"]
        rate = n / t_check
        texts = [x.description for x in listings]
        t_ids = best(lambda: [chemids.ids_in_text(tx, True, check._cas_keep) for tx in texts], args.repeat)
        t_struct = best(lambda: [check.structures.parse("SMILES", x.attributes["SMILES"]) for x in listings],
                        args.repeat)
        t_mf = best(lambda: [chemstruct.declared_formulas(x.attributes["MF"]) for x in listings], args.repeat)
        stages.append([name, f"{1000 * t_check / n:.3f}", f"{1000 * t_ids / n:.3f}", f"{1000 * t_struct / n:.3f}",
                       f"{1000 * t_mf / n:.3f}", f"{1000 * (t_check - t_ids - t_struct - t_mf) / n:.3f}"])
        engine_split.append([name, f"{1000 * t_engine / n:.3f}", f"{1000 * t_prep / n:.3f}",
                             f"{1000 * t_check / n:.3f}",
                             f"{1000 * (t_engine - t_prep - t_check) / n:.3f}"])
        row = [name, f"{size:.1f} KB", f"{numbers:.0f}", fmt_rate(rate), f"{1000 * t_check / n:.3f}",
               "met" if rate >= 2000 else "NOT met"]
        if old is not None:
            row += [fmt_rate(n / t["before"]), f"{t['before'] / t_check:.1f}×"]
        row += [fmt_rate(n / t_prep), fmt_rate(n / t_engine)]
        if old_engine is not None:
            row += [fmt_rate(n / te["before"])]
        rows.append(row)
        details.append(f"- {name}: {n} listings, {findings / n:.1f} chemical findings per listing.")
    headers = ["text", "size", "CAS numbers", "chemical check listings/s", "ms/listing", "target ≥ 2,000/s"]
    if old is not None:
        headers += [f"check at {args.before} listings/s", "speed-up"]
    headers += ["prepare listings/s", "Engine.moderate listings/s"]
    if old_engine is not None:
        headers += [f"Engine.moderate with the check at {args.before}"]
    text = "\n".join([
        "# Hazardous-chemical check on ~10 KB supplier descriptions (one core)",
        "",
        f"- {machine()}; {pinned}.",
        f"- Engine built in {built:.2f} s ({len(snap.checks)} checks; chemical check: {len(check.listed)} listed CAS, "
        f"{check.name_count} names, {check.structures.rows} structures, {len(check.cas_variants)} one-digit CAS variants; "
        f"the chemical check alone builds in {t_check_built:.2f} s).",
        f"- Listings: category `{CATEGORY}` (bare CAS numbers read), attributes CAS No. / MF / SMILES; "
        f"descriptions from {directory / 'chemicals_cas.csv'} lines (catalogue) and cas_lists/ rows (listed). "
        f"Best of {args.repeat} passes, caches (CAS check digits, parsed structures) cleared before each; "
        f"{'CPU time of this process (time.process_time)' if args.clock == 'cpu' else 'wall-clock time'}.",
        "- `check.run` = the chemical check alone on prepared listings; `prepare` = normalisation + the shared automaton "
        "pass (the engine's, for all checks); `Engine.moderate` = everything (all checks, decide, Decision).",
        *([f"- Before: the check's modules as of git `{args.before}` (`--before`), timed in the same process, its "
           "passes taken in turn with the current ones."] if old is not None else []),
        "",
        md_table(headers, rows),
        "",
        *details,
        "",
        "Where the chemical check's time goes now (ms per listing; each part timed alone, cold caches):",
        "",
        md_table(["text", "check.run", "CAS + EC numbers in the description (chemids.ids_in_text)",
                  "SMILES attribute (RDKit; listed one-fragment structures by canonical SMILES)", "MF attribute", "the rest (names, near misses, structures lookup, gate, "
                  "evidence)"], stages),
        "",
        "Where the engine's time goes on these listings (ms per listing):",
        "",
        md_table(["text", "Engine.moderate", "prepare (normalisation + automaton pass)", "chemical check",
                  "other checks, decide, Decision"], engine_split),
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
