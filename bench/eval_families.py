"""Evaluate the sexual-health and live-animals/plants rules on the real listing data in
``../shared/data/listings``.

Usage::

    python bench/eval_families.py [--dir PATH] [--out bench/results/eval_families.md] [--quiet]

The directory defaults to ``$MODERATE_LISTINGS_DIR`` or ``<repo>/../shared/data/listings``. The data is
reference data with unclear rights (see its README): it is read from there and never copied into the
repository; the report holds counts and at most ``MAX_QUOTED`` short quoted titles.

What is measured (policy.md §3.3, §3.7), every row moderated from its title + description:

* **recall** -- ``supplements.csv`` rows whose source category says ``sexual-health claim`` (libido,
  arousal, testosterone wording in the title): the decision is ``block`` with a ``sexual_health_drug``
  violation; ``live_plants.csv`` (every row a live plant, bonsai kit or seed pack by its source topic): ``block``
  with a ``live_animals_plants`` violation (``as_of`` = today: the B 2 regime);
* **false positives** of each family -- a violation of the family whose action is not ``allow`` -- on
  ``benign_titles.csv`` and ``hard_negatives.csv`` (with the category as given and without it), on the
  ``general supplement`` rows of ``supplements.csv`` and on ``medical_devices.csv`` (condoms, thermometers:
  look-alikes of §3.3); plus the false-positive rate of **all families together** on the benign corpora
  (issue 4: ≤ 0.5 %);
* **review rate**: rows with a violation of the family that asks for review.

The labels are the source's topic plus a keyword check, not a row-by-row review (data README): the
report lists every remaining miss and false positive it quotes with the rules that fired, so a reader
can judge each.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.models import Listing  # noqa: E402
from benchlib import listings_dir, read_rows  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "eval_families.md"
MAX_QUOTED = 60
QUOTE_CHARS = 80
SEX = "sexual_health_drug"
LIVE = "live_animals_plants"
FAMILIES = (SEX, LIVE)
# (file, row filter on the source category, family, positive?)
SETS = [
    ("supplements.csv", lambda c: "sexual-health claim" in c, SEX, True, "sexual-health claim rows"),
    ("live_plants.csv", lambda c: True, LIVE, True, "all rows"),
    ("supplements.csv", lambda c: "general supplement" in c, SEX, False, "general supplement rows"),
    ("medical_devices.csv", lambda c: True, SEX, False, "all rows (condoms, thermometers, hearing aids)"),
]
NEGATIVE_FILES = ("benign_titles.csv", "hard_negatives.csv")
TARGET_FP = {"benign_titles.csv": 0.005, "hard_negatives.csv": 0.01}
TARGET_ALL_FAMILIES_FP = 0.005


@dataclass
class SetResult:
    name: str
    family: str
    mode: str
    positive: bool
    rows: int = 0
    hits: int = 0          # caught (positive sets) / flagged (negative sets)
    reviews: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[str, str]] = field(default_factory=list)  # misses / false positives

    @property
    def rate(self) -> float:
        return self.hits / self.rows if self.rows else 0.0


def make_listing(i: int, row: dict, with_category: bool) -> Listing | None:
    title = (row.get("title") or "").strip()
    if not title:
        return None
    cat = (row.get("category") or "").strip() if with_category else ""
    return Listing(listing_id=f"row{i}", title=title[:1000], description=(row.get("description") or "")[:200_000],
                   category=cat or None)


def _describe(vs) -> str:
    if not vs:
        return "-"
    ev = sorted({(e.field, e.text) for v in vs for e in v.evidence})
    rules = sorted({v.rule_id for v in vs})
    return ",".join(rules) + " ← " + "; ".join(f"{f}:{t[:25]!r}" for f, t in ev[:4])


def _lexicon_rules(d) -> list:
    """The violations of the rule checks (the text classifier, when it is on, is measured elsewhere:
    bench/bench_classifier.py)."""
    return [v for v in d.violations if not v.rule_id.startswith("classifier.")]


def _record(res: SetResult, title: str, d) -> None:
    vs = [v for v in _lexicon_rules(d) if v.category == res.family]
    flagged = any(v.action != "allow" for v in vs)
    hit = (d.action == "block" and flagged) if res.positive else flagged
    res.rows += 1
    if any(v.review for v in vs):
        res.reviews += 1
    if hit:
        res.hits += 1
        for r in {v.rule_id for v in vs}:
            res.by_rule[r] = res.by_rule.get(r, 0) + 1
    if hit != res.positive:
        res.examples.append((title, _describe(vs)))


def _record_all(res: SetResult, title: str, d) -> None:
    res.rows += 1
    bad = [v for v in _lexicon_rules(d) if v.action != "allow"]
    if bad:
        res.hits += 1
        for v in bad:
            res.by_rule[v.rule_id] = res.by_rule.get(v.rule_id, 0) + 1
        res.examples.append((title, _describe(bad)))
    if any(v.review for v in _lexicon_rules(d)):
        res.reviews += 1


def _run(engine, rows, results: list[SetResult], with_category: bool, keep=None,
         all_families: SetResult | None = None) -> None:
    """Moderate every row once and record the decision in each result (one per family)."""
    for i, row in enumerate(rows):
        if keep is not None and not keep(row.get("category") or ""):
            continue
        listing = make_listing(i, row, with_category)
        if listing is None:
            continue
        d = engine.moderate(listing)
        for res in results:
            _record(res, listing.title, d)
        if all_families is not None:
            _record_all(all_families, listing.title, d)


@dataclass
class Report:
    directory: Path
    sets: list[SetResult] = field(default_factory=list)
    all_families: list[SetResult] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self) -> list[str]:
        out = []
        for r in self.sets:
            limit = TARGET_FP.get(r.name)
            if not r.positive and limit is not None and r.rate > limit:
                out.append(f"{r.family} FP on {r.name} ({r.mode}) {r.rate:.3%} > {limit:.1%}")
        for r in self.all_families:
            if r.name == "benign_titles.csv" and r.rate > TARGET_ALL_FAMILIES_FP:
                out.append(f"all-families FP on {r.name} {r.rate:.3%} > {TARGET_ALL_FAMILIES_FP:.1%}")
        return out


def evaluate(engine=None, directory: Path | None = None, all_families: bool = True) -> Report:
    if engine is None:
        from app.engine import Engine
        engine = Engine()
    directory = Path(directory) if directory else listings_dir()
    t0 = time.perf_counter()
    rep = Report(directory)
    cache: dict[str, list] = {}

    def rows(name):
        if name not in cache:
            cache[name] = read_rows(directory / name) if (directory / name).is_file() else []
        return cache[name]

    for name, keep, family, positive, what in SETS:
        if rows(name):
            res = SetResult(name, family, what, positive)
            _run(engine, rows(name), [res], False, keep=keep)
            rep.sets.append(res)
    for name in NEGATIVE_FILES:
        if not rows(name):
            continue
        for mode, with_category in (("with category", True), ("without category", False)):
            results = [SetResult(name, family, mode, False) for family in FAMILIES]
            allf = SetResult(name, "all families", mode, False) if (all_families and with_category) else None
            _run(engine, rows(name), results, with_category, all_families=allf)
            rep.sets.extend(results)
            if allf is not None:
                rep.all_families.append(allf)
    rep.seconds = time.perf_counter() - t0
    return rep


def _quote(title: str) -> str:
    t = " ".join(title.split())
    t = t if len(t) <= QUOTE_CHARS else t[: QUOTE_CHARS - 1] + "…"
    return '"' + t.replace("|", "/").replace("`", "'") + '"'


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("`", "'").replace("\n", " ")


def render_markdown(rep: Report, versions: dict[str, str]) -> str:
    lines = [
        "# Sexual-health and live-animals/plants rules on the shared listing data",
        "",
        "Generated by `bench/eval_families.py` (do not edit by hand). Data: `../shared/data/listings`",
        "(not in this repository: its rights are not cleared). Counts, and at most "
        f"{MAX_QUOTED} short quoted titles of misses and false positives.",
        "",
        "Versions: " + ", ".join(f"{k} `{v}`" for k, v in versions.items()) + ".",
        "",
        "| family | file | rows used | measure | count | rate | target | review rate |",
        "|---|---|---|---|---:|---:|---|---:|",
    ]
    for r in rep.sets:
        measure = "recall (block)" if r.positive else "false positives"
        target = ("report" if r.positive else
                  (f"≤ {TARGET_FP[r.name]:.1%}" if r.name in TARGET_FP else "report"))
        lines.append(f"| {r.family} | {r.name} | {r.mode}: {r.rows} | {measure} | {r.hits} | "
                     f"{r.rate:.3%} | {target} | {r.reviews / r.rows if r.rows else 0:.3%} |")
    for r in rep.all_families:
        target = f"≤ {TARGET_ALL_FAMILIES_FP:.1%}" if r.name == "benign_titles.csv" else "report"
        lines.append(f"| **all families** | {r.name} | {r.mode}: {r.rows} | false positives (any rule, not allow) | "
                     f"{r.hits} | {r.rate:.3%} | {target} | {r.reviews / r.rows if r.rows else 0:.2%} |")
    lines += ["", f"Runtime: {rep.seconds:.1f} s.", ""]
    for r in rep.sets:
        if r.positive and r.by_rule:
            lines.append(f"Recall by rule, {r.name}: " + ", ".join(f"`{k}` {v}" for k, v in sorted(r.by_rule.items())))
    for r in rep.all_families:
        if r.by_rule:
            lines.append(f"All-families false positives by rule, {r.name}: " +
                         ", ".join(f"`{k}` {v}" for k, v in sorted(r.by_rule.items())))
    failures = rep.failures()
    lines += ["", "Targets: " + ("all met." if not failures else "NOT met: " + "; ".join(failures)), ""]
    quoted: list[str] = []
    seen: set[tuple[str, str]] = set()
    for r in [*rep.sets, *rep.all_families]:
        kind = "miss" if r.positive else "false positive"
        for t, why in r.examples:
            if (r.family, t) in seen:
                continue
            seen.add((r.family, t))
            quoted.append(f"| {kind} | {r.family} | {r.name} | {_quote(t)} | {_cell(why)} |")
    if quoted:
        lines += ["## Misses and false positives", "",
                  f"{len(quoted)} distinct rows; {min(len(quoted), MAX_QUOTED)} quoted (run the script to print all).", "",
                  "| kind | family | file | title | rules ← evidence |", "|---|---|---|---|---|", *quoted[:MAX_QUOTED], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report ('-' = none)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    directory = args.dir or listings_dir()
    if not directory.is_dir():
        print(f"listing data not found: {directory}", file=sys.stderr)
        return 2
    import os
    os.environ.setdefault("MODERATE_CLASSIFIER", "off")  # the rule checks only (see the module doc)
    from app.engine import Engine
    engine = Engine()
    rep = evaluate(engine, directory)
    for r in [*rep.sets, *rep.all_families]:
        print(f"{r.family:22} {r.name:20} {r.mode:45} {'recall' if r.positive else 'FP':6} "
              f"{r.hits}/{r.rows} = {r.rate:.3%}  review {r.reviews}")
        if not args.quiet:
            for t, why in r.examples:
                print(f"    {'MISS' if r.positive else 'FP'} {t[:110]!r}  [{why}]")
    print(f"({rep.seconds:.1f} s)")
    f = rep.failures()
    print("targets: " + ("met" if not f else "NOT met: " + "; ".join(f)))
    if str(args.out) != "-":
        snap = engine.snapshot
        versions = {"policy": snap.version, **{fam: snap.lexicons[fam].version for fam in FAMILIES if fam in snap.lexicons}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render_markdown(rep, versions), encoding="utf-8")
        print(f"wrote {args.out}")
    return 0 if not f else 1


if __name__ == "__main__":
    raise SystemExit(main())
